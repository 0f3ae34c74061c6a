// In-place update rules of the optimizers, with torch.optim's semantics. Each works on one parameter and
// its state tensors, outside autograd. State tensors passed undefined are created (as torch does on the
// first step) and returned through the reference.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace grnewt::optim {

struct SgdOptions {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
// torch.optim.SGD on `param` using its .grad(); no-op when it has none.
void sgd_step(at::Tensor& param, at::Tensor& momentum_buffer, const SgdOptions& o);

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};
// torch.optim.Adam (amsgrad off) on `param` using its .grad(); `step` is the step number after this one (≥ 1).
void adam_step(at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step, const AdamOptions& o);

// NewtonSummary's momentum direction: buf ← grad on first use, else buf ← m·buf + (1 − damp)·grad.
// Returns buf (the direction u). A parameter without a gradient counts as a zero gradient.
at::Tensor momentum_direction(const at::Tensor& param, at::Tensor& buf, double momentum, double damp);

// The step Adam would take with lr = 1: m̂ / (√v̂ + eps), updating the moments first.
at::Tensor adam_direction(const at::Tensor& param, at::Tensor& exp_avg, at::Tensor& exp_avg_sq, int64_t step,
                          const AdamOptions& o);

// param ← param − lr·u.
void apply_update(at::Tensor& param, const at::Tensor& u, double lr);

// Whether the step the function of the same name would take leaves the parameter and its state finite,
// decided before anything is written: a bound from the tensors' largest magnitudes, or near overflow a trial
// on copies. Optimizers skip a step that would not (torch.optim would write Inf or NaN).
bool sgd_step_stays_finite(const at::Tensor& param, const at::Tensor& momentum_buffer, const SgdOptions& o);
bool adam_step_stays_finite(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                            int64_t step, const AdamOptions& o);
// Whether momentum_direction / adam_direction would leave the state and the direction finite (the gradient
// itself checked finite by the caller).
bool momentum_direction_stays_finite(const at::Tensor& param, const at::Tensor& buf, double momentum, double damp);
bool adam_direction_stays_finite(const at::Tensor& param, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                                 int64_t step, const AdamOptions& o);
// Whether param − lr·u is finite.
bool update_stays_finite(const at::Tensor& param, const at::Tensor& u, double lr);

}  // namespace grnewt::optim
