#include "method/taylor.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "core/errors.h"
#include "core/finite.h"
#include "core/tensor_factory.h"
#include "core/winograd_conv.h"
#include "method/taylor_parts.h"

namespace grnewt::taylor {

namespace detail {

namespace {

// y = layer(x) for every row, with the terms of the direction U on the weight (bilinear rule):
//   y_s += U x (s the weight's subset),  y_st += U x_t (twice for t = s),  y_sss += 3 U x_ss;
// and the bias direction v: y_s += v for the bias's subset.
// `Layer` provides all(J, W, rows, known, profile): W applied to every row of J, as a tensor with `rows` rows
// (the new ones uninitialised; row 0 copied from `known` when it is defined, the bias included), and
// add(out, x, U, alpha, overwrite): out (+)= alpha · U applied to x. A new row's first term overwrites it and
// the new rows no term reaches are zeroed at the end, so no row is zeroed only to be added to. `known` and
// `known_term` (Known's value and direction_term, when a plain forward pass gave them) replace row 0's product
// and the U x product.
template <typename Layer>
void bilinear(Jets& z, const Op& op, const Layer& layer, const std::vector<int64_t>& bias_shape,
              const at::Tensor& known, const at::Tensor& known_term) {
  const std::vector<int64_t> before = z.order();
  std::vector<int64_t> d1_before;  // rows of x_t for t active before this layer
  for (int64_t t : before) d1_before.push_back(z.d1(t));
  const int64_t s = op.dweight.defined() ? op.weight_group : -1;
  const int64_t x_ss = z.active(s) ? z.d2(s, s) : -1;
  const auto scaled = [&](const at::Tensor& w) { return op.input_scale == 1 ? w : w * op.input_scale; };

  activate_layer(z, op);
  const at::Tensor& J = z.J;
  const int64_t R = J.size(0);
  at::Tensor Y = layer.all(J, scaled(op.weight), z.rows(), known, z.profile);
  std::vector<bool> written(static_cast<size_t>(z.rows() - R), false);  // the new rows holding a term
  if (!J.is_cpu() && z.rows() > R) {  // on a GPU one fill of every new row costs less than a launch per row
    StageTimer a(z.profile, &Profile::allocation_s);
    Y.narrow(0, R, z.rows() - R).zero_();
    std::fill(written.begin(), written.end(), true);
  }
  const auto first_write = [&](int64_t row) {
    if (row < R || written[row - R]) return false;
    written[row - R] = true;
    return true;
  };
  if (op.bias.defined() && !known.defined()) {
    StageTimer t(z.profile, &Profile::bias_s);
    Y[0].add_(op.bias.view(bias_shape));
  }
  std::optional<StageTimer> t(std::in_place, z.profile, &Profile::layers_s);
  if (s >= 0) {
    const at::Tensor U = scaled(op.dweight);
    at::Tensor y_s = Y[z.d1(s)];
    if (!known_term.defined())
      layer.add(y_s, J[0], U, 1, first_write(z.d1(s)));
    else if (first_write(z.d1(s)))
      y_s.copy_(known_term);
    else
      y_s.add_(known_term);
    for (size_t k = 0; k < before.size(); ++k)
      if (z.has_pair(s, before[k])) {
        at::Tensor y_st = Y[z.d2(s, before[k])];
        layer.add(y_st, J[d1_before[k]], U, before[k] == s ? 2 : 1, first_write(z.d2(s, before[k])));
      }
    if (z.third() && x_ss >= 0) {
      at::Tensor y_sss = Y[z.d3(s)];
      layer.add(y_sss, J[x_ss], U, 3, first_write(z.d3(s)));
    }
  }
  if (op.dbias.defined() && op.bias_group >= 0) {
    at::Tensor y_b = Y[z.d1(op.bias_group)];
    const at::Tensor v = op.dbias.view(bias_shape);
    if (first_write(z.d1(op.bias_group)))
      y_b.copy_(v.expand_as(y_b));
    else
      y_b.add_(v);
  }
  t.reset();  // the zeroing below is allocation's
  {
    StageTimer a(z.profile, &Profile::allocation_s);
    for (int64_t row = R; row < z.rows();) {  // one zero_ per run of unwritten rows (on a GPU, one launch)
      int64_t end = row;
      while (end < z.rows() && !written[end - R]) ++end;
      if (end > row) Y.narrow(0, row, end - row).zero_();
      row = end + 1;
    }
  }
  z.J = Y, z.shares_input = false;
  if (z.profile) z.profile->peak_rows = std::max(z.profile->peak_rows, z.rows());
}

// One GEMM for all rows (but a known row 0), written straight into the result (no copy when rows are added).
struct LinearLayer {
  at::Tensor all(const at::Tensor& J, const at::Tensor& W, int64_t rows, const at::Tensor& known,
                 Profile* profile) const {
    const int64_t R = J.size(0), N = J.size(1), out = W.size(0), r0 = known.defined() ? 1 : 0;
    at::Tensor Y;
    {
      StageTimer t(profile, &Profile::allocation_s);
      Y = at::empty({rows, N, out}, J.options());
    }
    StageTimer t(profile, &Profile::layers_s);
    if (known.defined()) Y[0].copy_(known);
    if (R > r0) {
      at::Tensor head = Y.narrow(0, r0, R - r0).view({(R - r0) * N, out});
      at::mm_out(head, J.narrow(0, r0, R - r0).reshape({(R - r0) * N, J.size(2)}), W.t());
    }
    return Y;
  }
  // β = 0 ignores out's contents (NaN included), so an uninitialised row can be overwritten.
  void add(at::Tensor& out, const at::Tensor& x, const at::Tensor& U, double alpha, bool overwrite) const {
    out.addmm_(x, U.t(), overwrite ? 0 : 1, alpha);
  }
};

// A small convolution's dense matrix (conv_output_shape) reads the rows flattened and gives them back as
// [C, H, W] samples, the convolution's shape.
void linear(Jets& z, const Op& op, const Known* known) {
  const bool conv = !op.conv_output_shape.empty();
  if (!conv && z.J.dim() != 3)
    throw RangeError("a Linear layer needs [N, features] inputs, got rank " + std::to_string(z.J.dim() - 1));
  const auto flat = [&](const at::Tensor& t) { return conv && t.defined() ? t.flatten(1) : t; };
  if (conv) z.J = z.J.flatten(2);
  bilinear(z, op, LinearLayer{}, {-1}, known ? flat(known->value) : at::Tensor(),
           known ? flat(known->direction_term) : at::Tensor());
  z.J = dense_output(op, z.J);
}

struct Conv2dLayer {
  const ops::Conv2dOptions& o;
  at::Tensor conv(const at::Tensor& x, const at::Tensor& w) const {
    return at::conv2d(x, w, {}, o.stride, o.padding, o.dilation, o.groups);
  }
  // A few rows per convolution, written into the result: one convolution over every row at once needs its
  // unfolded input for all of them (float64 LeNet at batch 1000: 600 MB) and a copy to append the new rows.
  // Where Winograd's products pay (winograd_conv.h), every row but the value in one call, its buffers bounded
  // there; the value (row 0) stays ATen's, as the values pass's: it decides max-pools' argmax and relus' masks.
  at::Tensor all(const at::Tensor& J, const at::Tensor& W, int64_t rows, const at::Tensor& known,
                 Profile* profile) const {
    constexpr int64_t kRowsPerCall = 2;
    const int64_t R = J.size(0), N = J.size(1);
    StageTimer t(profile, &Profile::layers_s);
    at::Tensor Y;
    const auto allocate = [&](at::IntArrayRef sample) {  // sample: [C, H, W] of one row's output
      std::vector<int64_t> shape{rows, N};
      shape.insert(shape.end(), sample.begin(), sample.end());
      Y = at::empty(shape, J.options());
    };
    int64_t r = 0;
    if (known.defined()) {
      allocate(known.sizes().slice(1));
      Y[0].copy_(known);
      r = 1;
    }
    if (R > 1 && ops::winograd_pays(J[0], W, o)) {
      if (r == 0) {
        const at::Tensor value = conv(J[0], W);
        allocate(value.sizes().slice(1));
        Y[0].copy_(value);
        r = 1;
      }
      at::Tensor out = Y.narrow(0, r, R - r).flatten(0, 1);
      ops::winograd_conv2d_out(out, J.narrow(0, r, R - r).flatten(0, 1), ops::winograd_filter(W));
      return Y;
    }
    for (; r < R; r += kRowsPerCall) {
      const int64_t n = std::min(kRowsPerCall, R - r);
      const at::Tensor part = conv(J.narrow(0, r, n).flatten(0, 1), W);
      if (!Y.defined()) allocate(part.sizes().slice(1));
      Y.narrow(0, r, n).view(part.sizes()).copy_(part);
    }
    return Y;
  }
  void add(at::Tensor& out, const at::Tensor& x, const at::Tensor& U, double alpha, bool overwrite) const {
    if (!overwrite)
      out.add_(conv(x, U), alpha);
    else
      out.copy_(conv(x, U)).mul_(alpha);
  }
};

void conv2d(Jets& z, const Op& op, const Known* known) {
  if (z.J.dim() != 5)
    throw RangeError("a Conv2d layer needs [N, C, H, W] inputs, got rank " + std::to_string(z.J.dim() - 1));
  bilinear(z, op, Conv2dLayer{op.conv}, {-1, 1, 1}, known ? known->value : at::Tensor(),
           known ? known->direction_term : at::Tensor());
}

// Max-pooling is linear where the maximum is unique: every row is routed through the value's argmax (found
// here, or `known_index` from a plain forward pass).
void max_pool2d(Jets& z, const Op& op, const at::Tensor& known_index) {
  if (z.J.dim() != 5)
    throw RangeError("a MaxPool2d layer needs [N, C, H, W] inputs, got rank " + std::to_string(z.J.dim() - 1));
  const ops::MaxPool2dOptions& o = op.pool;
  const at::Tensor index =
      known_index.defined()
          ? known_index
          : std::get<1>(at::max_pool2d_with_indices(z.J[0], o.kernel_size, o.stride.empty() ? o.kernel_size : o.stride,
                                                    o.padding, o.dilation, o.ceil_mode));
  const int64_t R = z.J.size(0), N = index.size(0), C = index.size(1), L = index.size(2) * index.size(3);
  z.J = z.J.flatten(3)
            .gather(3, index.reshape({1, N, C, L}).expand({R, N, C, L}))
            .view({R, N, C, index.size(2), index.size(3)});
  z.shares_input = false;
}

}  // namespace

Layout layout_of(const Jets& z, const at::Device& device) {
  std::vector<int64_t> subsets, d1, pi, pj, prow, pab, d3, diag;
  const std::vector<int64_t>& order = z.order();
  const int64_t A = static_cast<int64_t>(order.size());
  for (int64_t a = 0; a < A; ++a) {
    const int64_t s = order[a];
    subsets.push_back(s), d1.push_back(z.d1(s));
    if (z.d2(s, s) >= 0) diag.push_back(z.d2(s, s));
    if (z.third()) d3.push_back(z.d3(s));
    for (int64_t b = 0; b < A; ++b)
      if (z.has_pair(s, order[b]))
        pi.push_back(s), pj.push_back(order[b]), prow.push_back(z.d2(s, order[b])), pab.push_back(a * A + b);
  }
  const std::vector<at::Tensor> t = index_tensors({&subsets, &d1, &pi, &pj, &prow, &pab, &d3, &diag}, device);
  return {A, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]};
}

// ḡ, H̄ and order3 from their values per active subset / pair; zeros for the subsets never reached.
summaries::Hg assemble(int64_t S, const at::TensorOptions& options, const Layout& L, const at::Tensor& g_values,
                       const at::Tensor& H_values, const at::Tensor& o3_values) {
  at::Tensor H = at::zeros({S, S}, options), g = at::zeros({S}, options), o3 = at::zeros({S}, options);
  if (L.A == 0) return {H, g, o3};
  g.index_put_({L.subsets}, g_values);
  H.index_put_({L.pair_i, L.pair_j}, H_values);
  if (o3_values.defined()) o3.index_put_({L.subsets}, o3_values);
  return {H, g, o3};
}

void HeadSums::add(const HeadSums& chunk) {
  if (!loss.defined()) {
    *this = chunk;
    return;
  }
  loss.add_(chunk.loss), lin.add_(chunk.lin);
  if (cov.defined()) cov.add_(chunk.cov);
  if (higher.defined()) higher.add_(chunk.higher);
}

HeadSums cross_entropy_sums_reference(const Jets& z, const Layout& L, const at::Tensor& labels, bool third) {
  const at::Tensor& J = z.J;  // [R, N, C]
  if (J.dim() != 3) throw RangeError("cross-entropy needs [N, classes] outputs");
  const int64_t R = J.size(0), N = J.size(1);
  HeadSums out;
  const at::Tensor p = at::softmax(J[0], 1);
  out.loss = -at::log_softmax(J[0], 1).gather(1, labels.view({N, 1})).sum();
  // l = y − lse(y): each row's NLL term is −(a[n, y_n] − E[a]), minus lse's higher-order terms (covariances
  // under p), added in finish().
  const at::Tensor E = (J * p).sum(-1);                                                     // [R, N]
  out.lin = (J.gather(2, labels.view({1, N, 1}).expand({R, N, 1})).squeeze(2) - E).sum(1);  // [R]
  if (L.A == 0) return out;
  const at::Tensor C1 = J.index_select(0, L.d1) - E.index_select(0, L.d1).unsqueeze(-1);  // centred a_s, [A, N, C]
  out.cov = at::mm((C1 * p).view({L.A, -1}), C1.view({L.A, -1}).t());                     // Σ_n Cov(a_i, a_j)
  if (third) {
    // lse‴ = E[a3] + 3 Cov(a1, a2) + κ3(a1): with c the centred jets, Cov(a1, a2) = E[c1 c2], κ3 = E[c1³].
    if (L.diag.numel() == 0) {
      out.higher = (C1 * C1 * C1 * p).sum({1, 2});  // no second-derivative rows: they are zeros
    } else {
      const at::Tensor C2 = J.index_select(0, L.diag) - E.index_select(0, L.diag).unsqueeze(-1);
      out.higher = ((3 * C2 + C1 * C1) * C1 * p).sum({1, 2});  // [A]
    }
  }
  return out;
}

namespace {

HeadSums mse_sums(const Jets& z, const Layout& L, const at::Tensor& target, bool third) {
  const at::Tensor& J = z.J;
  if (!target.sizes().equals(J[0].sizes()))
    throw RangeError("mse: the target's shape must be the output's, " + std::to_string(J[0].numel()) +
                     " elements per chunk of " + std::to_string(J.size(1)) + " samples");
  HeadSums out;
  const at::Tensor r = J[0] - target;
  out.loss = (r * r).sum();
  const at::Tensor flat = J.reshape({J.size(0), -1});
  out.lin = at::mv(flat, r.reshape({-1}));  // Σ r·row, per row
  if (L.A == 0) return out;
  const at::Tensor A1 = flat.index_select(0, L.d1);
  out.cov = at::mm(A1, A1.t());  // Σ a_i a_j
  if (third)
    out.higher = L.diag.numel() == 0 ? at::zeros({L.A}, flat.options()) : (A1 * flat.index_select(0, L.diag)).sum(1);
  return out;
}

// ḡ, H̄, order3 and the loss from the sums over the whole batch (N samples, `outputs` output elements).
Result finish(Loss loss, const HeadSums& sums, const Layout& L, int64_t S, int64_t N, int64_t outputs, bool third) {
  Result result;
  if (loss == Loss::CrossEntropy) {
    const at::Tensor lin = sums.lin / static_cast<double>(N);
    result.loss = sums.loss / static_cast<double>(N);
    if (L.A == 0) return {assemble(S, lin.options(), L, {}, {}, {}), result.loss};
    at::Tensor o3;
    if (third) o3 = -(lin.index_select(0, L.d3) - sums.higher / static_cast<double>(N));
    result.hg = assemble(
        S, lin.options(), L, -lin.index_select(0, L.d1),
        -(lin.index_select(0, L.pair_row) - (sums.cov / static_cast<double>(N)).view({-1}).index_select(0, L.pair_ab)),
        o3);
    return result;
  }
  const double scale = 2.0 / static_cast<double>(outputs);
  result.loss = sums.loss / static_cast<double>(outputs);
  if (L.A == 0) return {assemble(S, sums.lin.options(), L, {}, {}, {}), result.loss};
  at::Tensor o3;
  if (third) o3 = scale * (3 * sums.higher + sums.lin.index_select(0, L.d3));
  result.hg =
      assemble(S, sums.lin.options(), L, scale * sums.lin.index_select(0, L.d1),
               scale * (sums.cov.view({-1}).index_select(0, L.pair_ab) + sums.lin.index_select(0, L.pair_row)), o3);
  return result;
}

void check_op(const Op& op, int64_t S, size_t k) {
  const std::string where = "model step " + std::to_string(k);
  if (op.kind != Op::Kind::Linear && op.kind != Op::Kind::Conv2d) return;
  if (!op.weight.defined()) throw TypeError(where + ": a layer needs a weight");
  for (int64_t group : {op.weight_group, op.bias_group})
    if (group < -1 || group >= S)
      throw RangeError(where + ": subset " + std::to_string(group) + " is out of range [0, " + std::to_string(S) + ")");
  if (op.dweight.defined() && !op.dweight.sizes().equals(op.weight.sizes()))
    throw RangeError(where + ": the weight's direction has another shape");
  if (op.dbias.defined() && (!op.bias.defined() || !op.dbias.sizes().equals(op.bias.sizes())))
    throw RangeError(where + ": the bias's direction has another shape");
}

// Whether f never decreases: then max-pooling commutes with f (the argmax of f(y) over a window is one of y's,
// and where f ties, as relu's zeros, its derivatives vanish at every tied element alike), so an activation
// followed by a max-pool can run on the pooled rows, a quarter of the elements for 2×2 pools.
bool non_decreasing(const jets::Activation& a) { return a.kind != jets::ActivationKind::Elu || a.alpha >= 0; }

// The jets implementation: every row (first, second for every pair, third) pushed forward, chunk by chunk.
Result jets_summaries(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes, Loss loss,
                      const at::Tensor& x, const at::Tensor& target, int64_t S, const summaries::Options& options,
                      Profile* profile) {
  const int64_t N = x.size(0);
  const bool third = !options.noregul;  // the jets' third-derivative rows
  const ChunkPlan plan = plan_chunks(N, chunk_size(steps, shapes, x, S, options, true), x, profile);
  std::vector<HeadChunk> chunks = run_chunks<HeadChunk>(N, plan, [&](int64_t n0, int64_t n) {
    const Jets z = forward(steps, x.narrow(0, n0, n), S, options, profile);
    StageTimer t(profile, &Profile::loss_s);
    return head_chunk(loss, z, target.narrow(0, n0, n), third);
  });
  HeadChunk& head = chunks[0];
  for (size_t k = 1; k < chunks.size(); ++k) head.add(chunks[k]);
  StageTimer t(profile, &Profile::loss_s);
  return finish(loss, head.sums, head.L, S, N, head.outputs, third);
}

}  // namespace

HeadSums head_sums(Loss loss, const Jets& z, const Layout& L, const at::Tensor& target, bool third) {
  if (loss == Loss::Mse) return mse_sums(z, L, target, third);
  return z.J.is_cpu() ? cross_entropy_sums_cpu(z, L, target, third) : cross_entropy_sums_reference(z, L, target, third);
}

HeadChunk head_chunk(Loss loss, const Jets& z, const at::Tensor& target, bool third) {
  HeadChunk c{{}, layout_of(z, z.J.device()), z.J[0].numel()};
  c.sums = head_sums(loss, z, c.L, target, third);
  return c;
}

std::vector<std::vector<int64_t>> sample_shapes(const std::vector<const Op*>& steps, const at::Tensor& x) {
  std::vector<std::vector<int64_t>> shapes;
  at::Tensor v = x.narrow(0, 0, 1);
  // Named after x: a shape that does not fit is the caller's input, not an internal failure.
  const auto misfit = [&](size_t k, const std::string& why) {
    return RangeError("x of shape " + c10::str(x.sizes()) + " does not fit the model at step " + std::to_string(k) +
                      ": " + why);
  };
  for (size_t k = 0; k < steps.size(); ++k) {
    const Op* op = steps[k];
    const auto rank = [&](int64_t wanted, const char* what) {
      if (v.dim() != wanted)
        throw misfit(k, std::string("a ") + what + " layer needs " + (wanted == 2 ? "[N, features]" : "[N, C, H, W]") +
                            " inputs, got rank " + std::to_string(v.dim()));
    };
    try {
      switch (op->kind) {
        case Op::Kind::Linear:
          rank(2, "Linear");
          // A fitting input gets its shape without the product (for an MLP the product is most of this pass: the
          // first layer's weights read for one sample); one that does not fit runs it, for libtorch's reason.
          if (v.size(1) == op->weight.size(1) && v.scalar_type() == op->weight.scalar_type() &&
              v.device() == op->weight.device())
            v = at::empty({1, op->weight.size(0)}, v.options());
          else
            v = at::linear(v, op->weight);
          break;
        case Op::Kind::Conv2d:
          rank(4, "Conv2d");
          v = at::conv2d(v, op->weight, {}, op->conv.stride, op->conv.padding, op->conv.dilation, op->conv.groups);
          break;
        case Op::Kind::MaxPool2d:
          rank(4, "MaxPool2d");
          v = at::max_pool2d(v, op->pool.kernel_size, op->pool.stride.empty() ? op->pool.kernel_size : op->pool.stride,
                             op->pool.padding, op->pool.dilation, op->pool.ceil_mode);
          break;
        case Op::Kind::Flatten:
          v = v.flatten(1);
          break;
        case Op::Kind::Activation:
          break;
      }
    } catch (const c10::Error& e) {  // libtorch's word on sizes that do not fit (too small for a kernel, features)
      throw misfit(k, e.what_without_backtrace());
    }
    shapes.push_back(v.sizes().vec());
  }
  return shapes;
}

void activate_layer(Jets& z, const Op& op) {
  z.activate(op.dweight.defined() ? op.weight_group : -1);
  if (op.dbias.defined()) z.activate(op.bias_group);
}

// A chunk's jets and their temporaries take at most kJetsOverForward times the values one forward pass over the
// whole batch holds, so the peak memory of a summary stays a small multiple of a forward+backward's however many
// rows the partition makes (VGG-11's canonical partition: up to 298 rows in the jets implementation).
constexpr int64_t kJetsOverForward = 2;

int64_t chunk_size(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                   const at::Tensor& x, int64_t S, const summaries::Options& options, bool second) {
  const int64_t N = x.size(0);
  // The rows each step has (they depend on the steps alone), times one sample's elements at its input and output.
  Jets z(at::empty({0}, x.options()), S, options, nullptr, second);
  int64_t in = x.numel() / N, peak = 0, values = 0;
  for (size_t k = 0; k < steps.size(); ++k) {
    int64_t out = 1;
    for (size_t d = 1; d < shapes[k].size(); ++d) out *= shapes[k][d];
    const int64_t rows_in = z.rows();
    if (steps[k]->kind == Op::Kind::Linear || steps[k]->kind == Op::Kind::Conv2d) activate_layer(z, *steps[k]);
    if (steps[k]->kind != Op::Kind::Flatten) {
      // a layer or a max-pool holds its input's rows and its output's; an activation its rows and f(y)
      const int64_t held =
          steps[k]->kind == Op::Kind::Activation ? (z.rows() + 1) * out : rows_in * in + z.rows() * out;
      peak = std::max(peak, held), values += out;
    }
    in = out;
  }
  peak = std::max(peak, 3 * z.rows() * in);  // the loss head's temporaries
  const double budget = static_cast<double>(kJetsOverForward) * static_cast<double>(values) * static_cast<double>(N);
  return std::clamp<int64_t>(static_cast<int64_t>(budget / static_cast<double>(std::max<int64_t>(1, peak))), 1, N);
}

ChunkPlan plan_chunks(int64_t N, int64_t budget_size, const at::Tensor& x, const Profile* profile) {
  const int64_t T = at::get_num_threads();
  const bool parallel = x.is_cpu() && !profile && T > 1 && N > 1 && !at::in_parallel_region();
  if (const char* forced = std::getenv("GRNEWT_TAYLOR_CHUNK")) {
    const int64_t n = std::atoll(forced);
    if (n > 0) return {std::min(n, N), parallel};
  }
  if (!parallel) return {budget_size, false};
  const int64_t per_thread = std::max<int64_t>(1, budget_size / T);  // T chunks in flight share the budget
  const int64_t count = (N + per_thread - 1) / per_thread;
  const int64_t balanced = (count + T - 1) / T * T;
  return {(N + balanced - 1) / balanced, true};
}

std::vector<const Op*> schedule(const std::vector<Op>& model) {
  std::vector<const Op*> steps;
  for (size_t k = 0; k < model.size(); ++k) {
    const bool swap = k + 1 < model.size() && model[k].kind == Op::Kind::Activation &&
                      model[k + 1].kind == Op::Kind::MaxPool2d && non_decreasing(model[k].activation);
    if (swap)
      steps.push_back(&model[k + 1]), steps.push_back(&model[k]), ++k;
    else
      steps.push_back(&model[k]);
  }
  return steps;
}

void step(Jets& z, const Op& op, const Known* known, jets::Contractions* contractions) {
  const at::Tensor none;
  switch (op.kind) {
    case Op::Kind::Linear:
      linear(z, op, known);
      break;
    case Op::Kind::Conv2d:
      conv2d(z, op, known);
      break;
    case Op::Kind::MaxPool2d: {
      StageTimer t(z.profile, &Profile::pool_s);
      max_pool2d(z, op, known ? known->pool_index : none);
      break;
    }
    case Op::Kind::Flatten:
      z.J = z.J.flatten(2);
      break;
    case Op::Kind::Activation: {
      StageTimer t(z.profile, &Profile::elementwise_s);
      z.J = z.shares_input ? z.J.clone(at::MemoryFormat::Contiguous) : z.J.contiguous();
      z.shares_input = false;
      jets::propagate_elementwise(z.J, z.kernel_rows(), op.activation, known ? known->value : none, contractions);
      break;
    }
  }
}

Jets forward(const std::vector<const Op*>& steps, const at::Tensor& x, int64_t S, const summaries::Options& options,
             Profile* profile) {
  Jets z(x, S, options, profile);
  for (const Op* op : steps) step(z, *op);
  return z;
}

Result summaries_by(std::optional<Route> route, const std::vector<Op>& model, Loss loss, const at::Tensor& x,
                    const at::Tensor& target, int64_t S, const summaries::Options& options, Profile* profile) {
  if (profile && x.is_cuda()) profile->cuda_device = x.get_device();
  StageTimer whole(profile, &Profile::total_s);
  at::NoGradGuard no_grad;
  if (S < 1) throw RangeError("the partition has no subset");
  for (size_t k = 0; k < model.size(); ++k) check_op(model[k], S, k);
  if (x.dim() < 1 || x.size(0) < 1) throw RangeError("the Taylor route needs a batch of at least one sample");
  const int64_t N = x.size(0);
  if (loss == Loss::CrossEntropy && (target.dim() != 1 || target.size(0) != N || target.scalar_type() != at::kLong))
    throw RangeError("cross-entropy needs int64 labels [N] with N = " + std::to_string(N));
  if (loss == Loss::Mse && (target.dim() < 1 || target.size(0) != N))
    throw RangeError("mse: the target's shape must be the output's, with N = " + std::to_string(N) + " samples");
  std::vector<const Op*> steps = schedule(model);
  const std::vector<std::vector<int64_t>> shapes = sample_shapes(steps, x);
  const std::vector<int64_t>& out = shapes.empty() ? x.sizes().vec() : shapes.back();
  if (loss == Loss::CrossEntropy) {
    // Checked here, before any kernel indexes by them (on a GPU an out-of-range index is a device-side assert).
    if (out.size() != 2) throw RangeError("cross-entropy needs [N, classes] outputs");
    const at::Tensor range = at::stack({target.min(), target.max()}).cpu();  // one wait on a GPU
    const int64_t lo = range[0].item<int64_t>(), hi = range[1].item<int64_t>();
    if (lo < 0 || hi >= out[1])
      throw RangeError("cross-entropy: labels must be in [0, " + std::to_string(out[1]) + "), got " +
                       std::to_string(lo < 0 ? lo : hi));
  }
  if (loss == Loss::Mse && target.scalar_type() != x.scalar_type())
    throw TypeError(std::string("mse: the target's dtype must be the inputs' (") + c10::toString(x.scalar_type()) +
                    "), got " + c10::toString(target.scalar_type()));
  // Here rather than in the façade: the first pass reads x right after, from the cache.
  if (!all_finite({x, target})) throw RangeError(all_finite({x}) ? "y holds NaN or Inf" : "x holds NaN or Inf");
  std::vector<Op> dense;  // on the CPU, the small convolutions as dense matrices
  if (x.is_cpu()) steps = with_dense_convolutions(steps, shapes, x, dense);
  if (!route) route = route_for(steps, shapes, S, options, N, x.is_cpu());
  return *route == Route::Adjoint ? adjoint_summaries(steps, shapes, loss, x, target, S, options, profile)
                                  : jets_summaries(steps, shapes, loss, x, target, S, options, profile);
}

}  // namespace detail

Result summaries(const std::vector<Op>& model, Loss loss, const at::Tensor& x, const at::Tensor& target, int64_t S,
                 const summaries::Options& options, Profile* profile) {
  return detail::summaries_by(std::nullopt, model, loss, x, target, S, options, profile);
}

}  // namespace grnewt::taylor
