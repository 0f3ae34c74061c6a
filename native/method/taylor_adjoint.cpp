// The Taylor route by forward-over-adjoint: the same summaries as the jets implementation (taylor.cpp),
// exactly, with 2 rows per subset pushed forward instead of 2 + one per pair.
//
// The model is z_{k+1} = f_k(z_k, θ_k), L = ℓ(z_K). Along θ + a u_i + b u_j the first derivatives z_i, z_j
// propagate forward (z_{i,k+1} = ∂f_k z_{i,k} + ∂_θ f_k u_i), and the mixed second derivative propagates
// linearly with a source per step:
//   z_{ij,k+1} = ∂f_k z_{ij,k} + D²f_k[(z_{i,k}, u_i), (z_{j,k}, u_j)],   z_{ij,0} = 0,
// so with the values' backward pass λ_{k+1} = ∂L/∂z_{k+1} (the adjoint of the linearised steps after k):
//   H̄_ij = D²ℓ[z_{i,K}, z_{j,K}] + Σ_k ⟨λ_{k+1}, D²f_k[(z_i, u_i), (z_j, u_j)]⟩.
// Along one subset (t ↦ θ + t u_s) the third derivative propagates with z″ = z_ss as
//   z‴_{k+1} = ∂f_k z‴_k + 3 D²f_k[(z′, u_s), (z″, 0)] + D³f_k[(z′, u_s)]³,
// hence order3_s = D³ℓ[z′_K]³ + 3 D²ℓ[z′_K, z″_K] + Σ_k ⟨λ_{k+1}, 3 D²f_k[(z′, u), (z″, 0)] + D³f_k[(z′, u)]³⟩.
// The sources per step:
//   Linear / Conv2d y = W x + b, with the direction U on W for the weight's subset s (bilinear, so D³ = 0):
//     D²f[(x_i, U_i), (x_j, U_j)] = U_i x_j + U_j x_i, nonzero only when i or j is s; with V = (the layer's
//     input-gradient of λ through U, i.e. Uᵀλ): H̄_sj and H̄_js get ⟨V, x_j⟩ (H̄_ss twice), and
//     order3_s gets 3 ⟨V, x_ss⟩. The bias enters linearly: no source.
//   Activation z = σ(y): D²f[y_i, y_j] = σ″ y_i y_j, D³f[y′]³ = σ‴ y′³: H̄ gets the Gram matrix
//     Σ λσ″ y_i y_j over the first-derivative rows, order3_s gets Σ λ (σ‴ y_s³ + 3 σ″ y_s y_ss).
//   Max-pool and flatten are linear (piecewise, routed through the value's argmax): no source.
// The loss head's terms D²ℓ, D³ℓ are the jets implementation's (head_sums: cov and higher), and ḡ_s =
// ⟨∇ℓ, z_{s,K}⟩ its first-order rows. λ is normalised like the loss (1/N, or 2/outputs for MSE), so the
// per-chunk sources add up over the batch's chunks.
#include <ATen/ATen.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/tensor_factory.h"
#include "core/winograd_conv.h"
#include "method/taylor_parts.h"

namespace grnewt::taylor::detail {

// Whether a step has second-order sources, hence needs λ at its output once a subset is active (needs_adjoint):
// a layer with a direction on its weight, or an activation with σ″ or σ‴ nonzero somewhere (relu and identity
// have neither).
bool has_sources(const Op& op) {
  switch (op.kind) {
    case Op::Kind::Linear:
    case Op::Kind::Conv2d:
      return op.dweight.defined() && op.weight_group >= 0;
    case Op::Kind::Activation:
      return op.activation.kind != jets::ActivationKind::Relu && op.activation.kind != jets::ActivationKind::Identity;
    default:
      return false;
  }
}

// Whether every second derivative along one subset, z_ss, is zero at every step, so the jets need no rows for
// them: each activation has σ″ = 0 (relu, identity) and each subset's weight is in the first layer the subset
// reaches (z_ss gains 2 U z_s at a layer of its weight, and z_s is zero at that layer's input only then).
bool second_derivatives_vanish(const std::vector<const Op*>& steps, int64_t S) {
  std::vector<bool> reached(static_cast<size_t>(S), false);
  for (const Op* op : steps) {
    if (op->kind == Op::Kind::Activation && has_sources(*op)) return false;
    if (op->kind != Op::Kind::Linear && op->kind != Op::Kind::Conv2d) continue;
    const bool weight = op->dweight.defined() && op->weight_group >= 0;
    if (weight && reached[op->weight_group]) return false;
    if (weight) reached[op->weight_group] = true;
    if (op->dbias.defined() && op->bias_group >= 0) reached[op->bias_group] = true;
  }
  return true;
}

namespace {

at::Tensor scaled(const at::Tensor& w, const Op& op) { return op.input_scale == 1 ? w : w * op.input_scale; }

std::vector<int64_t> pool_stride(const Op& op) { return op.pool.stride.empty() ? op.pool.kernel_size : op.pool.stride; }

// Uᵀλ: the input-gradient of λ (the layer's output-gradient) through the weight U, for the layer's input x.
at::Tensor input_gradient(const Op& op, const at::Tensor& lambda, const at::Tensor& x, const at::Tensor& U) {
  if (op.kind == Op::Kind::Linear) return at::mm(lambda.flatten(1), U).view(x.sizes());  // flat: a dense conv
  const ops::Conv2dOptions& o = op.conv;
  if (ops::winograd_pays(x, U, o)) return ops::winograd_conv2d(lambda, ops::winograd_input_gradient_filter(U));
  return std::get<0>(at::convolution_backward(lambda, x, U, c10::nullopt, o.stride, o.padding, o.dilation, false,
                                              {0, 0}, o.groups, {true, false, false}));
}

// The values' forward pass: the input of every step (values[K] the model's output) and each max-pool's argmax.
// The jets pass takes its row 0 from here instead of computing it again.
struct Values {
  std::vector<at::Tensor> values, direction_terms, pool_index;
};

// W x + b and, for a layer with a weight direction U, U x, in one product: [W; U] stacked along the outputs
// (one read of x, one wider GEMM or one convolution sharing its unfolded input). Returns {value, U x}; U x
// is left undefined (the jets compute it) for a grouped convolution, whose output channels are per group.
// A dense convolution's (conv_output_shape) products are over the flattened sample, viewed back as [C, H, W].
std::pair<at::Tensor, at::Tensor> layer_values(const Op& op, const at::Tensor& x) {
  const bool dense = !op.conv_output_shape.empty();
  const auto apply = [&](const at::Tensor& w, const at::Tensor& b) {
    return op.kind == Op::Kind::Linear
               ? at::linear(dense ? x.flatten(1) : x, scaled(w, op), b)
               : at::conv2d(x, scaled(w, op), b, op.conv.stride, op.conv.padding, op.conv.dilation, op.conv.groups);
  };
  if (!op.dweight.defined() || (op.kind == Op::Kind::Conv2d && op.conv.groups != 1))
    return {dense_output(op, apply(op.weight, op.bias)), at::Tensor()};
  const int64_t out = op.weight.size(0), channel_dim = op.kind == Op::Kind::Linear ? (dense ? 1 : x.dim() - 1) : 1;
  const at::Tensor bias = op.bias.defined() ? at::cat({op.bias, at::zeros_like(op.bias)}) : at::Tensor();
  // ATen's convolutions, not Winograd's (winograd_conv.h), even where those pay: the values decide each
  // max-pool's argmax and each relu's mask, and rounded differently (~1e-6 in float32) a near-tie can go the
  // other way than in the model's own forward pass and the autograd route (VGG-11: H̄ 3e-3 apart).
  const at::Tensor both = apply(at::cat({op.weight, op.dweight}), bias);
  return {dense_output(op, both.narrow(channel_dim, 0, out)), dense_output(op, both.narrow(channel_dim, out, out))};
}

Values values_pass(const std::vector<const Op*>& steps, const at::Tensor& x) {
  const size_t K = steps.size();
  Values out{std::vector<at::Tensor>(K + 1), std::vector<at::Tensor>(K), std::vector<at::Tensor>(K)};
  at::Tensor v = x;
  for (size_t k = 0; k < K; ++k) {
    const Op& op = *steps[k];
    out.values[k] = v;
    switch (op.kind) {
      case Op::Kind::Linear:
      case Op::Kind::Conv2d:
        std::tie(v, out.direction_terms[k]) = layer_values(op, v);
        break;
      case Op::Kind::MaxPool2d: {
        auto pooled = at::max_pool2d_with_indices(v, op.pool.kernel_size, pool_stride(op), op.pool.padding,
                                                  op.pool.dilation, op.pool.ceil_mode);
        v = std::get<0>(pooled), out.pool_index[k] = std::get<1>(pooled);
        break;
      }
      case Op::Kind::Flatten:
        v = v.flatten(1);
        break;
      case Op::Kind::Activation:
        v = jets::apply(v, op.activation);
        break;
    }
  }
  out.values[K] = v;
  return out;
}

}  // namespace

std::vector<bool> needs_adjoint(const std::vector<const Op*>& steps) {
  std::vector<bool> needs(steps.size(), false);
  bool active = false;  // before the first layer with a direction no subset is, and no source contracts anything
  for (size_t k = 0; k < steps.size(); ++k) {
    const Op& op = *steps[k];
    needs[k] = active && has_sources(op);
    active = active || (op.dweight.defined() && op.weight_group >= 0) || (op.dbias.defined() && op.bias_group >= 0);
  }
  return needs;
}

namespace {

// The backward pass of the loss from the values: λ at the output of every step that needs it (undefined
// elsewhere). `normaliser` is what the loss divides its sum by over the whole batch.
std::vector<at::Tensor> adjoints(const std::vector<const Op*>& steps, Loss loss, const Values& pass,
                                 const at::Tensor& target, double normaliser) {
  const size_t K = steps.size();
  const std::vector<bool> needs = needs_adjoint(steps);
  std::vector<at::Tensor> lambdas(K);
  const size_t first = std::find(needs.begin(), needs.end(), true) - needs.begin();  // the backward pass stops there
  if (first == K) return lambdas;
  const at::Tensor& v = pass.values[K];
  at::Tensor lambda;  // ∂L/∂(the model's output)
  if (loss == Loss::CrossEntropy) {
    if (v.dim() != 2) throw RangeError("cross-entropy needs [N, classes] outputs");
    lambda = at::softmax(v, 1);
    lambda.scatter_add_(1, target.view({-1, 1}), at::full({v.size(0), 1}, -1, v.options()));
    lambda.div_(normaliser);
  } else {
    if (!target.sizes().equals(v.sizes()))
      throw RangeError("mse: the target's shape must be the output's, " + std::to_string(v.numel()) +
                       " elements per chunk of " + std::to_string(v.size(0)) + " samples");
    lambda = (v - target).mul_(2 / normaliser);
  }
  for (size_t k = K; k-- > first;) {
    const Op& op = *steps[k];
    if (needs[k]) lambdas[k] = lambda;
    if (k == first) break;
    const at::Tensor& in = pass.values[k];
    switch (op.kind) {
      case Op::Kind::Linear:
      case Op::Kind::Conv2d:
        lambda = input_gradient(op, lambda, in, scaled(op.weight, op));
        break;
      case Op::Kind::MaxPool2d:
        lambda = at::max_pool2d_with_indices_backward(lambda, in, op.pool.kernel_size, pool_stride(op), op.pool.padding,
                                                      op.pool.dilation, op.pool.ceil_mode, pass.pool_index[k]);
        break;
      case Op::Kind::Flatten:
        lambda = lambda.reshape(in.sizes());
        break;
      case Op::Kind::Activation:
        lambda = jets::backward(lambda, in, pass.values[k + 1], op.activation);
        break;
    }
  }
  return lambdas;
}

// The sources Σ_k ⟨λ_{k+1}, …⟩ of H̄ ([S, S]) and order3 ([S]), accumulated over the steps and the chunks: the
// layers' as tensors, the activations' as the float64 sums the elementwise kernel returns (jets::Contractions).
struct Sources {
  at::Tensor H, o3;
  bool third;
  std::vector<double> H_activations, o3_activations;  // [S·S], [S]

  // Before a layer with a direction on its weight, with input jets z (rows: value, then per active subset its
  // first derivative and, when `with_second`, its second; without them the second derivatives are zeros).
  void add_layer(const Op& op, const Jets& z, const at::Tensor& lambda, bool with_second) {
    const std::vector<int64_t>& order = z.order();
    const int64_t A = static_cast<int64_t>(order.size()), per = with_second ? 2 : 1;
    if (A == 0) return;
    for (int64_t a = 0; a < A; ++a)
      if (z.d1(order[a]) != 1 + per * a || (with_second && z.d2(order[a], order[a]) != 2 + 2 * a))
        throw std::logic_error("adjoint route: unexpected jet rows");
    const at::Tensor rows = z.J.reshape({z.J.size(0), -1}).narrow(0, 1, per * A).view({A, per, -1});
    const at::Tensor first = rows.select(1, 0);  // [A, elements], strided views
    const at::Tensor subsets = index_tensors({&order}, z.J.device())[0];
    const int64_t s = op.weight_group;
    const at::Tensor V = input_gradient(op, lambda, z.J[0], scaled(op.dweight, op)).reshape({-1});
    const at::Tensor h = at::mv(first, V);  // ⟨Uᵀλ, x_j⟩ for every active j
    H.select(0, s).index_add_(0, subsets, h);
    H.select(1, s).index_add_(0, subsets, h);
    if (third && with_second && z.active(s)) {
      const int64_t a = (z.d1(s) - 1) / 2;
      o3[s] += 3 * at::dot(rows.select(1, 1)[a], V);
    }
  }

  // After an activation's step over the active subsets `order`, with the kernel's sums.
  void add_activation(const std::vector<int64_t>& order, const jets::Contractions& c) {
    const size_t A = order.size(), S = o3_activations.size();
    for (size_t a = 0; a < A; ++a) {
      for (size_t b = 0; b < A; ++b) H_activations[order[a] * S + order[b]] += c.gram[a * A + b];
      if (third) o3_activations[order[a]] += c.order3[a];
    }
  }

  // Another chunk's sources.
  void add(const Sources& chunk) {
    H.add_(chunk.H), o3.add_(chunk.o3);
    for (size_t k = 0; k < H_activations.size(); ++k) H_activations[k] += chunk.H_activations[k];
    for (size_t k = 0; k < o3_activations.size(); ++k) o3_activations[k] += chunk.o3_activations[k];
  }

  // H̄'s and order3's sources, all added up.
  std::pair<at::Tensor, at::Tensor> total() const {
    const auto as_tensor = [&](const std::vector<double>& v, at::IntArrayRef shape) {
      return at::tensor(v, at::kDouble).view(shape).to(H.options());
    };
    const int64_t S = o3.size(0);
    return {H + as_tensor(H_activations, {S, S}), o3 + as_tensor(o3_activations, {S})};
  }
};

// The adjoint implementation's jets: first and diagonal second derivatives only (the jets of the `diagonal`
// option without third derivatives; the second ones only for order3, and only where they can be nonzero).
summaries::Options adjoint_rows() {
  summaries::Options rows;
  rows.noregul = true, rows.diagonal = true;
  return rows;
}

}  // namespace

// ---- The reverse-mode tail ----------------------------------------------------------------------------
// A model's last steps often have no second-order sources of their own but the layers' weights: Linear layers,
// relu/identity activations, flatten (VGG's classifier). There every row is mapped linearly, by the same
// per-sample Jacobian, so instead of pushing the rows of every subset forward through them (VGG-11: 18 rows
// through fc2's 4096×4096), the tail pulls the C output classes back (G_k = ∂output/∂(input of step k), C
// rows) and contracts: an output row is ⟨G_p, z_p⟩ for a row z_p at the tail's start p, ⟨G_{m+1}, U x⟩ or
// ⟨G_{m+1}, v⟩ for the weight or bias direction of a tail layer m. A tail layer's source ⟨Uᵀλ, x_j⟩ needs
// x_j at its input: Uᵀλ is pulled back to p (one row), meeting on its way the terms of the tail layers before
// it. Exact when each tail layer's subsets belong to that layer alone (so none is active at its input and
// their second derivatives vanish there): tail_limit checks it.

namespace {

bool tail_step(const Op& op) {
  return op.kind == Op::Kind::Linear || op.kind == Op::Kind::Flatten ||
         (op.kind == Op::Kind::Activation && !has_sources(op));
}

template <typename F>
void each_subset(const Op& op, F f) {
  if (op.dweight.defined() && op.weight_group >= 0) f(op.weight_group);
  if (op.dbias.defined() && op.bias_group >= 0) f(op.bias_group);
}

}  // namespace

size_t tail_limit(const std::vector<const Op*>& steps, int64_t S) {
  std::vector<int> uses(static_cast<size_t>(S), 0);
  for (const Op* op : steps)
    if (op->kind == Op::Kind::Linear || op->kind == Op::Kind::Conv2d) each_subset(*op, [&](int64_t s) { ++uses[s]; });
  size_t p = steps.size();
  for (; p > 0 && tail_step(*steps[p - 1]); --p) {
    bool alone = true;
    each_subset(*steps[p - 1], [&](int64_t s) { alone = alone && uses[s] == 1; });
    if (!alone) break;
  }
  return p;
}

namespace {

// What the tail's extra ops cost beyond its multiply-adds, as a factor on them (the rows it saves run as
// one GEMM per layer).
constexpr double kTailOverhead = 1.2;

}  // namespace

size_t tail_start(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                  const at::Tensor& x, int64_t S, bool second) {
  const size_t K = steps.size(), limit = tail_limit(steps, S);
  if (limit == K || shapes.back().size() != 2) return K;
  const double C = static_cast<double>(shapes.back()[1]);
  // Per step: multiply-adds per sample of a Linear, rows pushed through it (all but the value, counted by the
  // jets' own bookkeeping), elements per sample at its input.
  std::vector<double> cost(K, 0), rows(K, 0), width(K, 0);
  Jets z(at::empty({0}, x.options()), S, adjoint_rows(), nullptr, second);
  for (size_t k = 0; k < K; ++k) {
    const std::vector<int64_t> in = k == 0 ? x.sizes().vec() : shapes[k - 1];
    width[k] = 1;
    for (size_t d = 1; d < in.size(); ++d) width[k] *= static_cast<double>(in[d]);
    rows[k] = static_cast<double>(z.rows() - 1);
    if (steps[k]->kind == Op::Kind::Linear) cost[k] = static_cast<double>(steps[k]->weight.numel());
    if (steps[k]->kind == Op::Kind::Linear || steps[k]->kind == Op::Kind::Conv2d) activate_layer(z, *steps[k]);
  }
  const std::vector<bool> needs = needs_adjoint(steps);
  size_t best = K;
  double best_saving = 0;
  for (size_t p = limit; p < K; ++p) {
    double forward = 0, tail = C * width[p] * rows[p];  // the contraction ⟨G_p, z_p⟩
    for (size_t m = p; m < K; ++m) {
      forward += cost[m] * rows[m], tail += C * cost[m];
      if (needs[m] && steps[m]->dweight.defined())  // Uᵀλ pulled back to p
        for (size_t k = p; k < m; ++k) tail += cost[k];
    }
    if (forward - kTailOverhead * tail > best_saving) best = p, best_saving = forward - kTailOverhead * tail;
  }
  return best;
}

namespace {

// From the jets z at the tail's first step p (a chunk [n0, n0 + n) of the batch): the output jets, with the
// rows pushing forward would have made, and the tail layers' sources added to H.
Jets reverse_tail(const std::vector<const Op*>& steps, size_t p, const Jets& z, const Values& pass,
                  const std::vector<at::Tensor>& lambdas, int64_t n0, int64_t n, at::Tensor& H) {
  const size_t K = steps.size();
  const auto chunk = [&](const at::Tensor& t) { return t.narrow(0, n0, n); };
  // g [B, n, step k's output] pulled back through step k: [B, n, step k's input].
  const auto pull = [&](size_t k, const at::Tensor& g) {
    const Op& op = *steps[k];
    const at::Tensor in = chunk(pass.values[k]);
    std::vector<int64_t> shape{g.size(0)};
    shape.insert(shape.end(), in.sizes().begin(), in.sizes().end());
    if (op.kind == Op::Kind::Linear)
      return at::matmul(g.reshape({g.size(0), n, -1}), scaled(op.weight, op)).view(shape);
    if (op.kind == Op::Kind::Activation)  // relu (f′ = 1 where y > 0, as the jets take it) or identity
      return op.activation.kind == jets::ActivationKind::Relu ? g * in.gt(0) : g;
    return g.reshape(shape);  // flatten
  };
  const at::Tensor output = chunk(pass.values[K]);
  const int64_t C = output.size(1);
  std::vector<at::Tensor> G(K + 1);  // G[k]: [C, n, step k's input]
  G[K] = at::eye(C, output.options()).unsqueeze(1).expand({C, n, C});
  for (size_t k = K; k-- > p;) G[k] = pull(k, G[k + 1]);

  Jets out = z;  // z's row tables, the tail layers' subsets appended as their steps would append them
  for (size_t k = p; k < K; ++k)
    if (steps[k]->kind == Op::Kind::Linear) activate_layer(out, *steps[k]);
  out.J = at::zeros({out.rows(), n, C}, output.options());  // a tail subset's second derivatives stay zero
  out.J[0].copy_(output);
  const int64_t R = z.rows();
  if (R > 1) {
    const at::Tensor rows = z.J.narrow(0, 1, R - 1).reshape({R - 1, n, -1});  // [R − 1, n, D]
    const at::Tensor Gp = G[p].reshape({C, n, -1});                           // [C, n, D]
    out.J.narrow(0, 1, R - 1).copy_(at::bmm(rows.transpose(0, 1), Gp.permute({1, 2, 0})).transpose(0, 1));
  }
  // A tail layer's direction terms, U x (the values pass computed it) and its bias direction.
  const auto weight_term = [&](size_t m) {
    if (!pass.direction_terms[m].defined()) throw std::logic_error("reverse tail: a layer's U x is missing");
    return chunk(pass.direction_terms[m]).reshape({n, -1});
  };
  for (size_t m = p; m < K; ++m) {
    const Op& op = *steps[m];
    if (op.kind != Op::Kind::Linear) continue;
    const at::Tensor g = G[m + 1].reshape({C, n, -1});
    if (op.dweight.defined() && op.weight_group >= 0)
      out.J[out.d1(op.weight_group)].copy_((g * weight_term(m).unsqueeze(0)).sum(-1).t());
    if (op.dbias.defined() && op.bias_group >= 0)
      out.J[out.d1(op.bias_group)].copy_(at::matmul(g, op.dbias.reshape({-1})).t());
  }

  // The tail layers' sources: Uᵀλ at layer i against every row at its input.
  std::vector<int64_t> d1, subsets;
  for (int64_t s : z.order()) d1.push_back(z.d1(s)), subsets.push_back(s);
  const std::vector<at::Tensor> index = index_tensors({&d1, &subsets}, z.J.device());
  const at::Tensor first =  // [A, n·D], none when no subset is active at p
      d1.empty() ? at::Tensor() : z.J.index_select(0, index[0]).reshape({static_cast<int64_t>(d1.size()), -1});
  const auto add = [&](int64_t i, int64_t j, const at::Tensor& h) {  // h: 0-d, or [A] over `subsets` for j < 0
    if (j >= 0) {
      H[i][j] += h, H[j][i] += h;
    } else {
      H.select(0, i).index_add_(0, index[1], h), H.select(1, i).index_add_(0, index[1], h);
    }
  };
  for (size_t i = p; i < K; ++i) {
    const Op& op = *steps[i];
    if (op.kind != Op::Kind::Linear || !lambdas[i].defined() || !op.dweight.defined() || op.weight_group < 0) continue;
    const int64_t s = op.weight_group;
    const at::Tensor in = chunk(pass.values[i]);
    at::Tensor mu = input_gradient(op, chunk(lambdas[i]).contiguous(), in, scaled(op.dweight, op)).unsqueeze(0);
    for (size_t k = i; k-- > p;) {  // mu is at step k's output
      const Op& earlier = *steps[k];
      if (earlier.kind == Op::Kind::Linear) {
        const at::Tensor m = mu.reshape({n, -1});
        if (earlier.dweight.defined() && earlier.weight_group >= 0)
          add(s, earlier.weight_group, (m * weight_term(k)).sum());
        if (earlier.dbias.defined() && earlier.bias_group >= 0)
          add(s, earlier.bias_group, at::dot(m.sum(0), earlier.dbias.reshape({-1})));
      }
      mu = pull(k, mu);
    }
    if (!d1.empty()) add(s, -1, at::mv(first, mu.reshape({-1})));
  }
  return out;
}

}  // namespace

Result adjoint_summaries(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                         Loss loss, const at::Tensor& x, const at::Tensor& target, int64_t S,
                         const summaries::Options& options, Profile* profile, std::optional<size_t> tail_at) {
  const int64_t N = x.size(0);
  const bool third = !options.noregul;
  // The loss's normaliser over the whole batch: the samples (cross-entropy) or the output's elements (MSE,
  // whose target has the output's shape).
  const double normaliser = static_cast<double>(loss == Loss::CrossEntropy ? N : target.numel());
  const summaries::Options rows_wanted = adjoint_rows();
  const bool second = third && !second_derivatives_vanish(steps, S);
  // The tail on the CPU only: it has not been measured on a GPU, where launches rather than multiply-adds decide.
  const size_t tail = tail_at ? *tail_at : x.is_cpu() ? tail_start(steps, shapes, x, S, second) : steps.size();
  const at::TensorOptions dtype = x.options();
  // The values and λ over the whole batch (what a forward+backward holds), then the jets chunk by chunk.
  std::optional<StageTimer> values_timer(std::in_place, profile, &Profile::values_s);
  const Values pass = values_pass(steps, x);
  const std::vector<at::Tensor> lambdas = adjoints(steps, loss, pass, target, normaliser);
  values_timer.reset();
  struct Chunk {
    Sources sources;
    HeadChunk head;
  };
  const ChunkPlan plan = plan_chunks(N, chunk_size(steps, shapes, x, S, rows_wanted, second), x, profile);
  std::vector<Chunk> chunks = run_chunks<Chunk>(N, plan, [&](int64_t n0, int64_t n) {
    Chunk c;
    c.sources = {at::zeros({S, S}, dtype), at::zeros({S}, dtype), third, std::vector<double>(S * S, 0.0),
                 std::vector<double>(S, 0.0)};
    std::vector<Known> known(tail);  // the steps the jets run (the tail reads the values itself)
    for (size_t k = 0; k < tail; ++k) {
      // A layer's value is copied into its output jets' row 0 as it is (a fused layer's is a channel slice of
      // [W; U]'s product); the elementwise kernel reads an activation's in place, so that one must be contiguous.
      const at::Tensor value = pass.values[k + 1].narrow(0, n0, n);
      known[k].value = steps[k]->kind == Op::Kind::Activation ? value.contiguous() : value;
      if (pass.direction_terms[k].defined()) known[k].direction_term = pass.direction_terms[k].narrow(0, n0, n);
      if (pass.pool_index[k].defined()) known[k].pool_index = pass.pool_index[k].narrow(0, n0, n);
    }
    Jets z(x.narrow(0, n0, n), S, rows_wanted, profile, second);
    for (size_t k = 0; k < tail; ++k) {
      const Op& op = *steps[k];
      const at::Tensor lambda = lambdas[k].defined() ? lambdas[k].narrow(0, n0, n).contiguous() : at::Tensor();
      if (lambda.defined() && op.kind != Op::Kind::Activation) {
        StageTimer t(profile, &Profile::sources_s);
        c.sources.add_layer(op, z, lambda, second);
      }
      jets::Contractions contractions{lambda, third, {}, {}};
      const bool contract = lambda.defined() && op.kind == Op::Kind::Activation && !z.order().empty();
      step(z, op, &known[k], contract ? &contractions : nullptr);
      if (contract) c.sources.add_activation(z.order(), contractions);
    }
    if (tail < steps.size()) {
      StageTimer t(profile, &Profile::layers_s);
      z = reverse_tail(steps, tail, z, pass, lambdas, n0, n, c.sources.H);
    }
    StageTimer t(profile, &Profile::loss_s);
    c.head = head_chunk(loss, z, target.narrow(0, n0, n), third);
    return c;
  });
  Chunk& all = chunks[0];
  for (size_t k = 1; k < chunks.size(); ++k) all.sources.add(chunks[k].sources), all.head.add(chunks[k].head);
  Sources& sources = all.sources;
  const HeadSums& sums = all.head.sums;
  const Layout& L = all.head.L;
  const int64_t outputs = all.head.outputs;
  StageTimer t(profile, &Profile::loss_s);
  // The loss head's terms, scaled like the loss: cross-entropy Σ_n/N (D²ℓ = Cov, D³ℓ[a]³ + 3 D²ℓ[a, a″] =
  // higher), MSE 2/outputs (D²ℓ = Σ a_i a_j, 3 D²ℓ[a, a″] = 3 Σ a a″).
  const bool ce = loss == Loss::CrossEntropy;
  const double scale = ce ? 1.0 / static_cast<double>(N) : 2.0 / static_cast<double>(outputs);
  Result result;
  result.loss = sums.loss / static_cast<double>(ce ? N : outputs);
  auto [H, o3] = sources.total();
  if (!third) o3.zero_();
  at::Tensor g = at::zeros({S}, dtype);
  if (L.A > 0) {
    H.index_put_({L.subsets.unsqueeze(1), L.subsets.unsqueeze(0)}, sums.cov * scale, true);
    g.index_put_({L.subsets}, sums.lin.index_select(0, L.d1) * (ce ? -scale : scale));
    if (third) o3.index_put_({L.subsets}, sums.higher * (ce ? scale : 3 * scale), true);
  }
  if (options.diagonal) H = at::diag(H.diagonal());
  result.hg = {H, g, o3};
  return result;
}

}  // namespace grnewt::taylor::detail
