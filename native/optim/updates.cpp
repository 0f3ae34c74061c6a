#include "optim/updates.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

namespace grnewt::optim {

namespace {
at::Tensor grad_or_zeros(const at::Tensor& param) {
  const at::Tensor& g = param.grad();
  return g.defined() ? g.detach() : at::zeros_like(param);
}
}  // namespace

void sgd_step(at::Tensor& param, at::Tensor& buf, const SgdOptions& o) {
  if (!param.grad().defined()) return;
  at::NoGradGuard no_grad;
  at::Tensor d = param.grad().detach();
  if (o.weight_decay != 0) d = d.add(param.detach(), o.weight_decay);
  if (o.momentum != 0) {
    if (!buf.defined()) {
      buf = d.clone();
    } else {
      buf.mul_(o.momentum).add_(d, 1 - o.dampening);
    }
    d = o.nesterov ? d.add(buf, o.momentum) : buf;
  }
  param.detach().add_(d, -o.lr);
}

void adam_step(at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step, const AdamOptions& o) {
  if (!param.grad().defined()) return;
  at::NoGradGuard no_grad;
  at::Tensor g = param.grad().detach();
  if (o.weight_decay != 0) g = g.add(param.detach(), o.weight_decay);
  if (!exp_avg.defined()) exp_avg = at::zeros_like(param.detach());
  if (!exp_avg_sq.defined()) exp_avg_sq = at::zeros_like(param.detach());
  exp_avg.mul_(o.beta1).add_(g, 1 - o.beta1);
  exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
  const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  at::Tensor denom = exp_avg_sq.sqrt().div_(std::sqrt(bias2)).add_(o.eps);
  param.detach().addcdiv_(exp_avg, denom, -o.lr / bias1);
}

at::Tensor momentum_direction(const at::Tensor& param, at::Tensor& buf, double momentum, double damp) {
  at::NoGradGuard no_grad;
  at::Tensor g = grad_or_zeros(param);
  if (!buf.defined()) {
    buf = g.clone();
  } else {
    buf.mul_(momentum).add_(g, 1 - damp);
  }
  return buf;
}

at::Tensor adam_direction(const at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
                          const AdamOptions& o) {
  at::NoGradGuard no_grad;
  at::Tensor g = grad_or_zeros(param);
  if (!exp_avg.defined()) exp_avg = at::zeros_like(g);
  if (!exp_avg_sq.defined()) exp_avg_sq = at::zeros_like(g);
  exp_avg.mul_(o.beta1).add_(g, 1 - o.beta1);
  exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
  const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  return exp_avg.div(bias1).div_(exp_avg_sq.sqrt().div_(std::sqrt(bias2)).add_(o.eps));
}

void apply_update(at::Tensor& param, const at::Tensor& u, double lr) {
  at::NoGradGuard no_grad;
  param.detach().add_(u, -lr);
}

namespace {

// One pass, no allocation: v − v is 0 for every finite v and NaN for ±Inf and NaN, and NaN propagates
// through the sums (at::isfinite(t).all() allocated a mask and took three quarters of an SGD step).
template <typename T>
bool finite_contiguous(const T* data, int64_t n) {
  constexpr int64_t kLanes = 16;  // independent sums, so the loop vectorises
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += data[i + j] - data[i + j];
  for (; i < n; ++i) acc[0] += data[i] - data[i];
  T total = 0;
  for (T a : acc) total += a;
  return total == 0;
}

}  // namespace

bool all_finite(const std::vector<at::Tensor>& tensors) {
  for (const at::Tensor& t : tensors) {
    if (!at::isFloatingType(t.scalar_type()) && !at::isComplexType(t.scalar_type())) continue;  // integers are finite
    if (t.is_cpu() && t.is_contiguous() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble)) {
      const bool finite = t.scalar_type() == at::kFloat ? finite_contiguous(t.data_ptr<float>(), t.numel())
                                                        : finite_contiguous(t.data_ptr<double>(), t.numel());
      if (!finite) return false;
      continue;
    }
    if (!at::isfinite(t).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace grnewt::optim
