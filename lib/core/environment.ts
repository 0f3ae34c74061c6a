// grnewt's environment variables, checked before the addon reads them: a mistyped value is named instead of
// being read as 0 (GRNEWT_MAX_TENSOR_MB=abc refused every tensor) or ignored (GRNEWT_TAYLOR_ROUTE=bogus).
// An empty value counts as unset.

const RULES: Record<string, { valid: (value: string) => boolean; expected: string }> = {
  GRNEWT_CPU_CACHE: { valid: (v) => v === '0' || v === '1', expected: '0 (libtorch’s own allocator) or 1' },
  GRNEWT_MAX_TENSOR_MB: { valid: (v) => /^[1-9]\d*$/.test(v), expected: 'a whole number of MiB ≥ 1' },
  GRNEWT_CPU_CACHE_LIMIT_MB: { valid: (v) => /^\d+$/.test(v), expected: 'a whole number of MiB' },
  GRNEWT_TAYLOR_ROUTE: { valid: (v) => v === 'jets' || v === 'adjoint', expected: "'jets' or 'adjoint'" },
  GRNEWT_TAYLOR_CHUNK: { valid: (v) => /^[1-9]\d*$/.test(v), expected: 'a whole number of samples ≥ 1' },
  GRNEWT_WINOGRAD: { valid: (v) => v === '0' || v === '1', expected: '0 (ATen’s convolutions only) or 1' },
};

/** Throws an Error naming the first variable set to a value grnewt cannot use (at the first call into the addon). */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, rule] of Object.entries(RULES)) {
    const value = env[name];
    if (value !== undefined && value !== '' && !rule.valid(value))
      throw new Error(`${name} must be ${rule.expected}, got ${JSON.stringify(value)}`);
  }
}
