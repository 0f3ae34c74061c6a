#include "method/summaries.h"

#include <torch/csrc/autograd/autograd.h>

#include <string>
#include <unordered_set>

#include "core/errors.h"

namespace grnewt::summaries {

namespace {

// The partition flattened: every parameter once, with the subset it belongs to.
struct Flat {
  std::vector<at::Tensor> params;
  std::vector<size_t> group_of;
  std::vector<std::vector<size_t>> members;  // indices into params, per subset
};

Flat flatten(const Groups& params) {
  Flat flat;
  flat.members.resize(params.size());
  for (size_t s = 0; s < params.size(); ++s) {
    for (const at::Tensor& p : params[s]) {
      flat.members[s].push_back(flat.params.size());
      flat.params.push_back(p);
      flat.group_of.push_back(s);
    }
  }
  return flat;
}

// Derivatives of `scalar` with respect to `inputs` (undefined where it does not depend on one).
std::vector<at::Tensor> grad(const at::Tensor& scalar, const std::vector<at::Tensor>& inputs, bool create_graph) {
  return torch::autograd::grad({scalar}, inputs, {}, /*retain_graph=*/true, create_graph, /*allow_unused=*/true);
}

// ⟨grads, u_s⟩ over subset s; `grads[k]` is the derivative for flat.params[indices[k]].
at::Tensor directional(const std::vector<at::Tensor>& grads, const std::vector<size_t>& indices, const Flat& flat,
                       const Groups& direction, size_t s, const at::Tensor& like) {
  at::Tensor acc;
  for (size_t k = 0; k < indices.size(); ++k) {
    const size_t i = indices[k];
    if (flat.group_of[i] != s || !grads[k].defined()) continue;
    const size_t position = i - flat.members[s].front();
    at::Tensor term = (grads[k] * direction[s][position]).sum();
    acc = acc.defined() ? acc + term : term;
  }
  return acc.defined() ? acc : at::zeros({}, like.options().requires_grad(false));
}

std::vector<size_t> all_indices(const Flat& flat) {
  std::vector<size_t> idx(flat.params.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  return idx;
}

std::vector<at::Tensor> select(const Flat& flat, const std::vector<size_t>& idx) {
  std::vector<at::Tensor> out;
  for (size_t i : idx) out.push_back(flat.params[i]);
  return out;
}

void check_loss(const at::Tensor& loss) {
  if (loss.numel() != 1) throw RangeError("the loss must be a scalar, got " + std::to_string(loss.numel()) + " values");
  if (!at::isFloatingType(loss.scalar_type())) throw TypeError("the loss must be float32 or float64");
  if (!loss.requires_grad()) {
    throw TypeError("the loss has no graph: it does not depend on any parameter that requires grad");
  }
}

}  // namespace

void check_partition(const Groups& params, const Groups& direction) {
  if (params.empty()) throw RangeError("the partition has no subset");
  std::unordered_set<const void*> seen;
  for (size_t s = 0; s < params.size(); ++s)
    for (const at::Tensor& p : params[s])
      if (!seen.insert(p.unsafeGetTensorImpl()).second)
        throw RangeError("a parameter appears twice in the partition (again in subset " + std::to_string(s) + ")");
  if (direction.size() != params.size()) {
    throw RangeError("direction has " + std::to_string(direction.size()) + " groups, the partition " +
                     std::to_string(params.size()));
  }
  for (size_t s = 0; s < params.size(); ++s) {
    if (params[s].empty()) throw RangeError("subset " + std::to_string(s) + " of the partition is empty");
    if (direction[s].size() != params[s].size()) {
      throw RangeError("direction for subset " + std::to_string(s) + " has " + std::to_string(direction[s].size()) +
                       " tensors, the subset " + std::to_string(params[s].size()));
    }
    for (size_t k = 0; k < params[s].size(); ++k) {
      const at::Tensor &p = params[s][k], &u = direction[s][k];
      if (!p.requires_grad())
        throw TypeError("parameter " + std::to_string(k) + " of subset " + std::to_string(s) +
                        " does not require grad");
      if (!p.sizes().equals(u.sizes())) {
        throw RangeError("direction tensor " + std::to_string(k) + " of subset " + std::to_string(s) + " has shape " +
                         c10::str(u.sizes()) + ", its parameter " + c10::str(p.sizes()));
      }
      if (p.device() != u.device()) throw TypeError("direction and parameters must be on the same device");
    }
  }
}

Hg compute_hg(const at::Tensor& loss, const Groups& params, const Groups& direction, const Options& options) {
  check_partition(params, direction);
  check_loss(loss);
  const Flat flat = flatten(params);
  const size_t S = params.size();
  const std::vector<size_t> everything = all_indices(flat);
  const bool need_order3 = !options.noregul;

  // ḡ: one backward, keeping its graph for the higher orders.
  const std::vector<at::Tensor> g1 = grad(loss, flat.params, /*create_graph=*/true);
  std::vector<at::Tensor> g(S), order3(S), H(S * S);
  for (size_t s = 0; s < S; ++s) g[s] = directional(g1, everything, flat, direction, s, loss);

  for (size_t s = 0; s < S; ++s) {
    // Row s of H̄: derivative of ḡ_s along every subset (only along s itself when diagonal).
    const std::vector<size_t> targets = options.diagonal ? flat.members[s] : everything;
    std::vector<at::Tensor> g2;
    if (g[s].requires_grad()) g2 = grad(g[s], select(flat, targets), /*create_graph=*/need_order3);
    for (size_t j = 0; j < S; ++j) {
      const bool wanted = !options.diagonal || j == s;
      H[s * S + j] = wanted && !g2.empty() ? directional(g2, targets, flat, direction, j, loss)
                                           : at::zeros({}, loss.options().requires_grad(false));
    }
    // order3_s: derivative of H̄_ss along u_s.
    const at::Tensor& hss = H[s * S + s];
    if (need_order3 && hss.requires_grad()) {
      order3[s] =
          directional(grad(hss, select(flat, flat.members[s]), false), flat.members[s], flat, direction, s, loss);
    } else {
      order3[s] = at::zeros({}, loss.options().requires_grad(false));
    }
  }

  auto stack = [&](const std::vector<at::Tensor>& xs) {
    std::vector<at::Tensor> detached;
    for (const at::Tensor& x : xs) detached.push_back(x.detach().to(loss.scalar_type()));
    return at::stack(detached);
  };
  at::Tensor Hm = stack(H).reshape({static_cast<int64_t>(S), static_cast<int64_t>(S)});
  return {0.5 * (Hm + Hm.t()), stack(g), stack(order3)};
}

at::Tensor diff_n(const at::Tensor& loss, const Groups& params, const Groups& direction, int order) {
  if (order < 1) throw RangeError("diffN: order must be ≥ 1, got " + std::to_string(order));
  check_partition(params, direction);
  check_loss(loss);
  const Flat flat = flatten(params);
  const size_t S = params.size();
  const std::vector<size_t> everything = all_indices(flat);
  struct Term {
    size_t last;       // the largest subset index in the tuple so far
    at::Tensor value;  // D^k L[...] with its graph while more orders follow
  };
  std::vector<Term> level{{0, loss}};
  for (int k = 1; k <= order; ++k) {
    std::vector<Term> next;
    for (const Term& term : level) {
      std::vector<at::Tensor> grads;
      if (term.value.requires_grad()) grads = grad(term.value, flat.params, /*create_graph=*/k < order);
      for (size_t j = term.last; j < S; ++j) {
        next.push_back({j, grads.empty() ? at::zeros({}, loss.options().requires_grad(false))
                                         : directional(grads, everything, flat, direction, j, loss)});
      }
    }
    level = std::move(next);
  }
  std::vector<at::Tensor> values;
  for (const Term& term : level) values.push_back(term.value.detach());
  return at::stack(values);
}

}  // namespace grnewt::summaries
