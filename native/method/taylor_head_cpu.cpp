// The Taylor route's cross-entropy head on the CPU (taylor_parts.h's HeadSums, same sums as
// cross_entropy_sums_reference in taylor.cpp): one pass over the samples, per sample the softmax p of the value
// row, the expectations E_r = Σ_c p_c a_r[c] of every row, and the centred first (and diagonal second) rows for
// the covariances and the order-3 terms. Tasks of kSamplesPerTask samples sum in float64 into their own partial
// sums, added in task order afterwards, so the result does not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/errors.h"
#include "method/taylor_parts.h"

namespace grnewt::taylor::detail {

namespace {

constexpr int64_t kSamplesPerTask = 64;

// The sums of one task, in float64: loss, lin [R], cov [A·A] (lower triangle), higher [A].
struct Partial {
  double loss = 0;
  std::vector<double> lin, cov, higher;
};

template <typename T>
void sums_of_samples(const T* J, int64_t R, int64_t N, int64_t C, const int64_t* labels, const std::vector<int64_t>& d1,
                     const std::vector<int64_t>& diag, bool third, int64_t n0, int64_t n1, Partial& out) {
  const int64_t A = static_cast<int64_t>(d1.size());
  std::vector<double> p(C), E(R), c1(A * C), c2(third && !diag.empty() ? A * C : 0);
  const auto row = [&](int64_t r, int64_t n) { return J + (r * N + n) * C; };
  for (int64_t n = n0; n < n1; ++n) {
    const T* a0 = row(0, n);
    const int64_t y = labels[n];  // in [0, C): summaries_by checks the labels before any head runs
    double m = a0[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, static_cast<double>(a0[c]));
    double total = 0;
    for (int64_t c = 0; c < C; ++c) total += p[c] = std::exp(static_cast<double>(a0[c]) - m);
    for (int64_t c = 0; c < C; ++c) p[c] /= total;
    out.loss += m + std::log(total) - static_cast<double>(a0[y]);
    for (int64_t r = 0; r < R; ++r) {
      const T* a = row(r, n);
      double e = 0;
      for (int64_t c = 0; c < C; ++c) e += p[c] * static_cast<double>(a[c]);
      E[r] = e;
      out.lin[r] += static_cast<double>(a[y]) - e;
    }
    for (int64_t i = 0; i < A; ++i) {
      const T* a = row(d1[i], n);
      for (int64_t c = 0; c < C; ++c) c1[i * C + c] = static_cast<double>(a[c]) - E[d1[i]];
      if (!c2.empty()) {
        const T* b = row(diag[i], n);
        for (int64_t c = 0; c < C; ++c) c2[i * C + c] = static_cast<double>(b[c]) - E[diag[i]];
      }
    }
    for (int64_t i = 0; i < A; ++i) {
      const double* ci = &c1[i * C];
      for (int64_t j = 0; j <= i; ++j) {
        const double* cj = &c1[j * C];
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += p[c] * ci[c] * cj[c];
        out.cov[i * A + j] += s;
      }
      if (third) {
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += p[c] * ((c2.empty() ? 0 : 3 * c2[i * C + c]) + ci[c] * ci[c]) * ci[c];
        out.higher[i] += s;
      }
    }
  }
}

std::vector<int64_t> to_vector(const at::Tensor& index) {
  if (!index.defined() || index.numel() == 0) return {};
  const at::Tensor cpu = index.to(at::kLong).contiguous();
  return {cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel()};
}

}  // namespace

HeadSums cross_entropy_sums_cpu(const Jets& z, const Layout& L, const at::Tensor& labels, bool third) {
  if (z.J.dim() != 3) throw RangeError("cross-entropy needs [N, classes] outputs");
  const at::Tensor J = z.J.contiguous(), y = labels.contiguous();
  const int64_t R = J.size(0), N = J.size(1), C = J.size(2), A = L.A;
  const std::vector<int64_t> d1 = to_vector(L.d1), diag = to_vector(L.diag);
  const int64_t tasks = (N + kSamplesPerTask - 1) / kSamplesPerTask;
  std::vector<Partial> partial(static_cast<size_t>(tasks));
  for (Partial& part : partial)
    part.lin.assign(R, 0.0), part.cov.assign(A * A, 0.0), part.higher.assign(third ? A : 0, 0.0);
  AT_DISPATCH_FLOATING_TYPES(J.scalar_type(), "cross_entropy_sums_cpu", [&] {
    const scalar_t* base = J.data_ptr<scalar_t>();
    at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        sums_of_samples(base, R, N, C, y.data_ptr<int64_t>(), d1, diag, third, t * kSamplesPerTask,
                        std::min(N, (t + 1) * kSamplesPerTask), partial[t]);
    });
  });
  Partial total;
  total.lin.assign(R, 0.0), total.cov.assign(A * A, 0.0), total.higher.assign(third ? A : 0, 0.0);
  for (const Partial& part : partial) {
    total.loss += part.loss;
    for (int64_t r = 0; r < R; ++r) total.lin[r] += part.lin[r];
    for (int64_t k = 0; k < A * A; ++k) total.cov[k] += part.cov[k];
    for (size_t k = 0; k < total.higher.size(); ++k) total.higher[k] += part.higher[k];
  }
  for (int64_t i = 0; i < A; ++i)
    for (int64_t j = 0; j < i; ++j) total.cov[j * A + i] = total.cov[i * A + j];
  const auto as_tensor = [&](const std::vector<double>& v, at::IntArrayRef shape) {
    return at::tensor(v, at::kDouble).view(shape).to(J.scalar_type());
  };
  HeadSums out;
  out.loss = at::scalar_tensor(total.loss, J.options());
  out.lin = as_tensor(total.lin, {R});
  if (A == 0) return out;
  out.cov = as_tensor(total.cov, {A, A});
  if (third) out.higher = as_tensor(total.higher, {A});
  return out;
}

}  // namespace grnewt::taylor::detail
