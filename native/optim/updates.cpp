#include "optim/updates.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "core/cpu_clones.h"
#include "core/finite.h"

namespace grnewt::optim {

namespace {
at::Tensor grad_or_zeros(const at::Tensor& param) {
  const at::Tensor& g = param.grad();
  return g.defined() ? g.detach() : at::zeros_like(param);
}
}  // namespace

namespace {

// The momentum buffer after gradient d (SGD's and NewtonSummary's): d itself on first use, else m·buf + (1 − damp)·d.
void accumulate_momentum(at::Tensor& buf, const at::Tensor& d, double momentum, double damp) {
  if (!buf.defined()) {
    buf = d.clone();
  } else {
    buf.mul_(momentum).add_(d, 1 - damp);
  }
}

// Adam's moments after gradient g (created as zeros when undefined), with the first moment's bias correction and
// the step's denominator √v̂ + eps (Adam's and NewtonSummary's).
struct AdamMoments {
  double bias1;
  at::Tensor denominator;
};
AdamMoments update_moments(const at::Tensor& g, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
                           const AdamOptions& o) {
  if (!exp_avg.defined()) exp_avg = at::zeros_like(g);
  if (!exp_avg_sq.defined()) exp_avg_sq = at::zeros_like(g);
  exp_avg.mul_(o.beta1).add_(g, 1 - o.beta1);
  exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
  const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  return {bias1, exp_avg_sq.sqrt().div_(std::sqrt(bias2)).add_(o.eps)};
}

// The SGD rule on `p` (a parameter's data, or a trial copy of it) from gradient `g`.
void sgd_rule(at::Tensor p, const at::Tensor& g, at::Tensor& buf, const SgdOptions& o) {
  at::Tensor d = g;
  if (o.weight_decay != 0) d = d.add(p, o.weight_decay);
  if (o.momentum != 0) {
    accumulate_momentum(buf, d, o.momentum, o.dampening);
    d = o.nesterov ? d.add(buf, o.momentum) : buf;
  }
  p.add_(d, -o.lr);
}

// The Adam rule on `p` (a parameter's data, or a trial copy of it) from gradient `g`.
void adam_rule(at::Tensor p, const at::Tensor& grad, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
               const AdamOptions& o) {
  at::Tensor g = grad;
  if (o.weight_decay != 0) g = g.add(p, o.weight_decay);
  const AdamMoments moments = update_moments(g, exp_avg, exp_avg_sq, step, o);
  p.addcdiv_(exp_avg, moments.denominator, -o.lr / moments.bias1);
}

// NewtonSummary's Adam direction from gradient g: Adam's step at lr = 1, updating the moments.
at::Tensor adam_direction_rule(const at::Tensor& g, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
                               const AdamOptions& o) {
  const AdamMoments moments = update_moments(g, exp_avg, exp_avg_sq, step, o);
  return exp_avg.div(moments.bias1).div_(moments.denominator);
}

}  // namespace

void sgd_step(at::Tensor& param, at::Tensor& buf, const SgdOptions& o) {
  if (!param.grad().defined()) return;
  at::NoGradGuard no_grad;
  sgd_rule(param.detach(), param.grad().detach(), buf, o);
}

void adam_step(at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step, const AdamOptions& o) {
  if (!param.grad().defined()) return;
  at::NoGradGuard no_grad;
  adam_rule(param.detach(), param.grad().detach(), exp_avg, exp_avg_sq, step, o);
}

namespace {

// A bound on every value a step's arithmetic produces, built factor by factor; `ok` stays true while each is
// below a quarter of the dtype's largest finite value (the margin covers rounding). A step whose bound holds
// cannot overflow; one whose bound fails is tried on copies.
struct OverflowBound {
  double limit;
  bool ok = true;
  double operator()(double v) {
    if (!(v < limit)) ok = false;  // NaN fails too
    return v;
  }
};

// Whether every scalar a rule passes to ATen (alpha, value) converts to t's dtype: ATen refuses one that
// overflows it (lr = 1e39 on float32), so such a step cannot be taken, nor tried.
bool scalars_fit(const at::Tensor& t, std::initializer_list<double> scalars) {
  if (t.scalar_type() != at::kFloat) return true;
  for (double v : scalars)
    if (!(std::abs(v) <= std::numeric_limits<float>::max())) return false;
  return true;
}

// A scalar as the dtype holds it (eps = 1e-50 is 0 in float32).
double in_dtype(const at::Tensor& t, double v) {
  return t.scalar_type() == at::kFloat ? static_cast<double>(static_cast<float>(v)) : v;
}

OverflowBound bound_for(const at::Tensor& t) {
  const at::ScalarType type = t.scalar_type();
  const double largest = type == at::kFloat    ? std::numeric_limits<float>::max()
                         : type == at::kDouble ? std::numeric_limits<double>::max()
                                               : 0;  // other dtypes: always tried
  return {largest / 4};
}

// The largest |value|, in one pass without allocation on contiguous CPU float tensors (linalg_vector_norm(inf)
// took 200 µs for 40k floats, more than the step it guards), built for AVX2 too: the baseline build of a max
// reduction runs at a quarter of its speed. A NaN may or may not count: the callers' gradients were checked
// finite, and a step cannot make a NaN that is not there already.
GRNEWT_AVX2_AND_BASELINE double max_abs_contiguous(const float* data, int64_t n) {
  float largest = 0;
#pragma omp simd reduction(max : largest)
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(data[i]));
  return largest;
}

GRNEWT_AVX2_AND_BASELINE double max_abs_contiguous(const double* data, int64_t n) {
  double largest = 0;
#pragma omp simd reduction(max : largest)
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(data[i]));
  return largest;
}

double max_abs(const at::Tensor& t) {
  if (!t.defined() || t.numel() == 0) return 0;
  if (t.is_cpu() && t.is_contiguous() && t.scalar_type() == at::kFloat)
    return max_abs_contiguous(t.data_ptr<float>(), t.numel());
  if (t.is_cpu() && t.is_contiguous() && t.scalar_type() == at::kDouble)
    return max_abs_contiguous(t.data_ptr<double>(), t.numel());
  return at::linalg_vector_norm(t, std::numeric_limits<double>::infinity()).item<double>();
}

// Adam's moments after a gradient whose largest magnitude is g (weight decay included): the bound on the first
// moment, the bias corrections, and eps as the dtype of `like` holds it (the denominator √v̂ + eps is at least
// that, the second moment being ≥ 0). Adds the second moment and the denominator to b.
struct AdamMomentsBound {
  double m, bias1, bias2, eps;
};
AdamMomentsBound adam_moments_bound(OverflowBound& b, const at::Tensor& like, double g, const at::Tensor& exp_avg,
                                    const at::Tensor& exp_avg_sq, int64_t step, const AdamOptions& o) {
  const double m = b(b(o.beta1) * max_abs(exp_avg) + std::abs(1 - o.beta1) * g);
  const double v = b(b(o.beta2) * max_abs(exp_avg_sq) + std::abs(1 - o.beta2) * b(g * g));
  const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  b(std::sqrt(v) / std::sqrt(bias2) + o.eps);
  return {m, bias1, bias2, in_dtype(like, o.eps)};
}

bool all_defined_finite(std::initializer_list<at::Tensor> tensors) {
  std::vector<at::Tensor> defined;
  for (const at::Tensor& t : tensors)
    if (t.defined()) defined.push_back(t);
  return all_finite(defined);
}

}  // namespace

bool sgd_step_stays_finite(const at::Tensor& param, const at::Tensor& buf, const SgdOptions& o) {
  if (!param.grad().defined()) return true;
  at::NoGradGuard no_grad;
  const at::Tensor p = param.detach(), g = param.grad().detach();
  OverflowBound b = bound_for(p);
  const double P = max_abs(p);
  double d = b(max_abs(g) + b(o.weight_decay) * P);
  if (o.momentum != 0) {
    const double buf_next = buf.defined() ? b(b(o.momentum) * max_abs(buf) + b(std::abs(1 - o.dampening)) * d) : d;
    d = o.nesterov ? b(d + o.momentum * buf_next) : buf_next;
  }
  b(P + b(o.lr) * d);
  if (b.ok) return true;
  // momentum and dampening reach ATen only where the rule uses them (the first step copies the gradient)
  const bool momentum_used = o.momentum != 0 && (buf.defined() || o.nesterov);
  if (!scalars_fit(p, {o.weight_decay, o.lr, momentum_used ? o.momentum : 0, buf.defined() ? 1 - o.dampening : 0}))
    return false;
  at::Tensor p_trial = p.clone(), buf_trial = buf.defined() ? buf.clone() : at::Tensor();
  sgd_rule(p_trial, g, buf_trial, o);
  return all_defined_finite({p_trial, buf_trial});
}

bool adam_step_stays_finite(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                            int64_t step, const AdamOptions& o) {
  if (!param.grad().defined()) return true;
  at::NoGradGuard no_grad;
  const at::Tensor p = param.detach(), grad = param.grad().detach();
  OverflowBound b = bound_for(p);
  const double P = max_abs(p);
  const double g = b(max_abs(grad) + b(o.weight_decay) * P);
  const auto [m, bias1, bias2, eps] = adam_moments_bound(b, p, g, exp_avg, exp_avg_sq, step, o);
  // Each element moves by at most lr/bias1 · m/eps; an eps that is 0 in the dtype bounds nothing.
  const double largest_move = eps > 0 ? b(b(o.lr / bias1) * b(m / eps)) : std::numeric_limits<double>::infinity();
  b(P + largest_move);
  if (b.ok) return true;
  if (!scalars_fit(p,
                   {o.weight_decay, o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2, std::sqrt(bias2), o.eps, o.lr / bias1}))
    return false;
  at::Tensor p_trial = p.clone();
  at::Tensor m_trial = exp_avg.defined() ? exp_avg.clone() : at::Tensor();
  at::Tensor v_trial = exp_avg_sq.defined() ? exp_avg_sq.clone() : at::Tensor();
  adam_rule(p_trial, grad, m_trial, v_trial, step, o);
  return all_defined_finite({p_trial, m_trial, v_trial});
}

bool update_stays_finite(const at::Tensor& param, const at::Tensor& u, double lr) {
  at::NoGradGuard no_grad;
  const at::Tensor p = param.detach();
  OverflowBound b = bound_for(p);
  b(max_abs(p) + b(std::abs(lr)) * max_abs(u));
  return b.ok || (scalars_fit(p, {lr}) && all_finite({p.add(u, -lr)}));
}

at::Tensor momentum_direction(const at::Tensor& param, at::Tensor& buf, double momentum, double damp) {
  at::NoGradGuard no_grad;
  accumulate_momentum(buf, grad_or_zeros(param), momentum, damp);
  return buf;
}

at::Tensor adam_direction(const at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
                          const AdamOptions& o) {
  at::NoGradGuard no_grad;
  return adam_direction_rule(grad_or_zeros(param), exp_avg, exp_avg_sq, step, o);
}

bool momentum_direction_stays_finite(const at::Tensor& param, const at::Tensor& buf, double momentum, double damp) {
  if (!buf.defined()) return true;  // the first direction is the gradient itself, checked finite by the caller
  at::NoGradGuard no_grad;
  const at::Tensor g = grad_or_zeros(param);
  OverflowBound b = bound_for(buf);
  b(b(momentum) * max_abs(buf) + b(std::abs(1 - damp)) * max_abs(g));
  if (b.ok) return true;
  if (!scalars_fit(buf, {momentum, 1 - damp})) return false;
  at::Tensor trial = buf.clone();
  accumulate_momentum(trial, g, momentum, damp);
  return all_finite({trial});
}

bool adam_direction_stays_finite(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                                 int64_t step, const AdamOptions& o) {
  at::NoGradGuard no_grad;
  const at::Tensor g = grad_or_zeros(param);
  OverflowBound b = bound_for(g);
  const auto [m, bias1, bias2, eps] = adam_moments_bound(b, g, max_abs(g), exp_avg, exp_avg_sq, step, o);
  // The direction m̂ / (√v̂ + eps) is at most m/bias1 / eps.
  b(eps > 0 ? b(m / bias1) / eps : std::numeric_limits<double>::infinity());
  if (b.ok) return true;
  if (!scalars_fit(g, {o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2, bias1, std::sqrt(bias2), o.eps})) return false;
  at::Tensor m_trial = exp_avg.defined() ? exp_avg.clone() : at::Tensor();
  at::Tensor v_trial = exp_avg_sq.defined() ? exp_avg_sq.clone() : at::Tensor();
  const at::Tensor u = adam_direction_rule(g, m_trial, v_trial, step, o);
  return all_finite({m_trial, v_trial, u});
}

void apply_update(at::Tensor& param, const at::Tensor& u, double lr) {
  at::NoGradGuard no_grad;
  param.detach().add_(u, -lr);
}

}  // namespace grnewt::optim
