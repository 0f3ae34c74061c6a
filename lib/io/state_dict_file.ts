// A model's state dict in a file whose extension names the format: .safetensors, or a torch.save file
// (.pt, .pth, .bin). Used by `grnewt train --init/--export`.
import * as path from 'node:path';
import { Tensor, type DeviceName } from '../core/tensor';
import { show } from '../core/validate';
import { loadSafetensors, saveSafetensors } from './safetensors';
import { loadTorch, saveTorch } from './torch_file';

const TORCH_EXTENSIONS = ['.pt', '.pth', '.bin'];

/** 'safetensors' or 'torch' by `file`'s extension; anything else is a RangeError naming the file. */
export function stateDictFormat(file: string, where: string): 'safetensors' | 'torch' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (TORCH_EXTENSIONS.includes(ext)) return 'torch';
  throw new RangeError(`${where}: ${show(file)} must end in .safetensors, ${TORCH_EXTENSIONS.join(', ')} (the extension names the format)`);
}

/** The name → tensor map in `file`; a torch.save file must hold exactly that (a state_dict()). */
export function readStateDict(file: string, where: string, device?: DeviceName): Record<string, Tensor> {
  if (stateDictFormat(file, where) === 'safetensors') return loadSafetensors(file, { device });
  const value = loadTorch(file, { device });
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Tensor) {
    throw new TypeError(`${where}: ${file} holds ${show(value)}, not a state dict (name → tensor)`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (!(v instanceof Tensor))
      throw new TypeError(`${where}: ${file} is not a state dict: ${show(k)} is ${show(v)}, not a tensor (save model.state_dict() itself)`);
  }
  return value;
}

/** Writes a state dict in the format `file`'s extension names, atomically. */
export function writeStateDict(file: string, stateDict: Record<string, Tensor>, where: string): void {
  if (stateDictFormat(file, where) === 'safetensors') saveSafetensors(file, stateDict);
  else saveTorch(file, stateDict);
}
