// The Taylor route's parts shared by its two implementations (taylor.cpp: all jets forward; taylor_adjoint.cpp:
// first-order and diagonal second-order jets forward plus one backward pass of the values), internal to
// native/method and its native tests. The route itself is taylor.h's summaries().
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <chrono>
#include <optional>
#include <vector>

#include "method/jets.h"
#include "method/taylor.h"

namespace grnewt::taylor::detail {

// Adds the wall time of its scope to one field of the profile; does nothing without a profile. On a GPU it
// waits for the queued kernels at both ends, so that each stage is charged its own kernels' time.
class StageTimer {
 public:
  StageTimer(Profile* profile, double Profile::*field) : profile_(profile), field_(field) {
    if (!profile_) return;
    synchronize();
    start_ = std::chrono::steady_clock::now();
  }
  ~StageTimer() {
    if (!profile_) return;
    synchronize();
    profile_->*field_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  void synchronize() const {
    if (profile_->cuda_device >= 0) at::detail::getCUDAHooks().deviceSynchronize(profile_->cuda_device);
  }
  Profile* profile_;
  double Profile::*field_;
  std::chrono::steady_clock::time_point start_;
};

// The jets of the current activation (see jets.h) and which rows hold what, per subset and pair.
class Jets {
 public:
  // `second`: whether the second-derivative rows (pairs) exist; without them only first (and third) derivatives
  // do, which the adjoint route uses when every second derivative along one subset vanishes.
  Jets(at::Tensor value, int64_t S, const summaries::Options& options, Profile* profile, bool second = true)
      : J(value.unsqueeze(0).contiguous()),
        profile(profile),
        S_(S),
        third_(!options.noregul),
        diagonal_(options.diagonal),
        second_(second),
        d1_(S, -1),
        d3_(S, -1),
        d2_(S * S, -1) {}

  at::Tensor J;      // [rows, N, ...]
  Profile* profile;  // null unless the caller asked for timings
  // Whether J may still be a view of the caller's input (no layer or pool has made new rows yet): a step that
  // writes in place (an activation) copies it first, so the caller's x is never written.
  bool shares_input = true;

  bool active(int64_t s) const { return s >= 0 && d1_[s] >= 0; }
  bool third() const { return third_; }
  bool has_pair(int64_t i, int64_t j) const { return second_ && (!diagonal_ || i == j); }
  int64_t d1(int64_t s) const { return d1_[s]; }
  int64_t d3(int64_t s) const { return d3_[s]; }
  int64_t d2(int64_t i, int64_t j) const { return d2_[i * S_ + j]; }
  const std::vector<int64_t>& order() const { return order_; }  // active subsets, in activation order
  int64_t rows() const { return rows_; }

  // Gives subset s its rows (d1, d3, and a pair with every active subset including itself), appended.
  void activate(int64_t s) {
    if (s < 0 || active(s)) return;
    d1_[s] = rows_++;
    if (third_) d3_[s] = rows_++;
    order_.push_back(s);
    for (int64_t t : order_)
      if (has_pair(s, t)) d2_[s * S_ + t] = d2_[t * S_ + s] = rows_++;
  }

  // The row tables of the elementwise kernel.
  jets::Rows kernel_rows() const {
    jets::Rows r;
    for (size_t a = 0; a < order_.size(); ++a) {
      const int64_t s = order_[a];
      r.d1.push_back(d1_[s]);
      if (third_) r.d3.push_back(d3_[s]);
      if (second_) r.diag.push_back(d2(s, s));
      for (size_t b = 0; b <= a; ++b)
        if (has_pair(s, order_[b])) {
          r.pair.push_back(d2(s, order_[b]));
          r.pair_a.push_back(static_cast<int64_t>(a));
          r.pair_b.push_back(static_cast<int64_t>(b));
        }
    }
    return r;
  }

 private:
  int64_t S_;
  bool third_, diagonal_, second_;
  std::vector<int64_t> d1_, d3_, d2_, order_;
  int64_t rows_ = 1;
};

// The steps in the order they run: a non-decreasing activation followed by a max-pool is swapped with it
// (see non_decreasing in taylor.cpp), so both implementations and their backward pass see the same sequence.
std::vector<const Op*> schedule(const std::vector<Op>& model);

// What a plain forward pass already knows of one step, so the jets need not recompute it: the step's output
// value (row 0 of its output jets), for a layer with a weight direction U the term U x of its input value x
// (the pass computes it in the same product as W x: one read of x, one wider GEMM or convolution), and, for
// a max-pool, where each maximum is (flat positions in H·W).
struct Known {
  at::Tensor value, direction_term, pool_index;
};

// Gives the subsets of a layer's weight and bias direction their rows (what the layer's step does first).
void activate_layer(Jets& z, const Op& op);

// The jets of one step's output from its input's, in place (Linear, Conv2d, MaxPool2d, Flatten, Activation).
// With `known`, row 0 is taken from it instead of computed, and a max-pool routes by its index; an activation
// given `contractions` also returns the adjoint route's sums (jets.h).
void step(Jets& z, const Op& op, const Known* known = nullptr, jets::Contractions* contractions = nullptr);

// The output jets of the scheduled steps for the inputs x (a chunk of the batch).
Jets forward(const std::vector<const Op*>& steps, const at::Tensor& x, int64_t S, const summaries::Options& options,
             Profile* profile);

// Where the summaries' ingredients are in the output jets: per active subset its rows, per pair of active
// subsets its row and its place (a·A + b) in an A×A matrix over the active subsets (int64, on J's device).
struct Layout {
  int64_t A = 0;
  at::Tensor subsets, d1, pair_i, pair_j, pair_row, pair_ab, d3, diag;
};
Layout layout_of(const Jets& z, const at::Device& device);

// The loss head works on a chunk of the batch at a time: every ingredient of the summaries is a sum over the
// samples, accumulated chunk by chunk and divided by the batch size at the end.
//   cross-entropy: loss = Σ −l[n, y_n]; lin[r] = Σ_n (a_r[n, y_n] − E[a_r]); cov = Σ_n Cov(a_i, a_j);
//                  higher[s] = Σ_n E[(3 c2 + c1²) c1] (the lse‴ terms beyond E[a3]);
//   MSE:           loss = Σ r²; lin[r] = Σ r·a_r (rdot); cov = Σ a_i a_j (gram); higher[s] = Σ a_s a_ss.
// `higher` only when `third`, from the rows `diag` (taken as zeros when the jets have none).
struct HeadSums {
  at::Tensor loss, lin, cov, higher;
  void add(const HeadSums& chunk);
};
HeadSums head_sums(Loss loss, const Jets& z, const Layout& L, const at::Tensor& target, bool third);

// One chunk's part of the loss head, as both implementations keep it: the sums, the rows' layout (the same for
// every chunk) and the chunk's output elements. add() takes another chunk's in.
struct HeadChunk {
  HeadSums sums;
  Layout L;
  int64_t outputs = 0;
  void add(const HeadChunk& chunk) { sums.add(chunk.sums), outputs += chunk.outputs; }
};
HeadChunk head_chunk(Loss loss, const Jets& z, const at::Tensor& target, bool third);

// The cross-entropy sums by ATen ops (any device), and by one loop over the samples on the CPU
// (taylor_head_cpu.cpp; what head_sums runs there: the ATen version's two dozen small ops cost more than the
// arithmetic). Labels int64 [N] in [0, C) (summaries_by checks them), J [R, N, C].
HeadSums cross_entropy_sums_reference(const Jets& z, const Layout& L, const at::Tensor& labels, bool third);
HeadSums cross_entropy_sums_cpu(const Jets& z, const Layout& L, const at::Tensor& labels, bool third);

// The output shape of every scheduled step for one sample (a pass over x's first sample): the layers' costs and
// the jets' sizes follow from them. Throws where the shapes do not fit the steps.
std::vector<std::vector<int64_t>> sample_shapes(const std::vector<const Op*>& steps, const at::Tensor& x);

// Samples per chunk of the batch (N samples), so that the most elements the jets and their temporaries take at
// once, counted from the rows each step has and `shapes`, stay within a small multiple of what a forward pass
// over the whole batch holds.
int64_t chunk_size(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                   const at::Tensor& x, int64_t S, const summaries::Options& options, bool second);

// How a batch of N samples is cut: `size` samples per chunk (the last may be shorter), the chunks run one per
// intra-op thread when `parallel`. On the CPU with T > 1 threads and no profile (its stage timers are one
// thread's) they run in parallel: T chunks at a time, each of at most 1/T of `budget_size` (the same memory in
// flight), their count a multiple of T. Inside a chunk every op then runs on its thread alone, so the small
// GEMMs, the elementwise loop and the loss head scale with the threads as a forward+backward's big GEMMs do.
// GRNEWT_TAYLOR_CHUNK=<samples> in the environment forces the size, on any thread count (for tests).
struct ChunkPlan {
  int64_t size;
  bool parallel;
};
ChunkPlan plan_chunks(int64_t N, int64_t budget_size, const at::Tensor& x, const Profile* profile);

// f(n0, n) for every chunk [n0, n0 + n) of the plan, in parallel or in order; the results in chunk order (the
// callers add them up in that order, so which thread ran which chunk does not change a bit of the sum).
template <typename ChunkResult, typename F>
std::vector<ChunkResult> run_chunks(int64_t N, const ChunkPlan& plan, const F& f) {
  const int64_t count = (N + plan.size - 1) / plan.size;
  std::vector<ChunkResult> out(static_cast<size_t>(count));
  const auto run = [&](int64_t c0, int64_t c1) {
    at::NoGradGuard no_grad;  // thread-local: the pool's threads do not inherit the caller's
    for (int64_t c = c0; c < c1; ++c) out[c] = f(c * plan.size, std::min(plan.size, N - c * plan.size));
  };
  if (plan.parallel)
    at::parallel_for(0, count, 1, run);
  else
    run(0, count);
  return out;
}

// Small convolutions as dense matrices on the CPU (taylor_dense_conv.cpp): the steps with each Conv2d whose
// input has at most kh·kw positions per channel replaced by a Linear step over its matrix (conv_output_shape
// set), when that matrix takes at most twice the weight's memory; the new steps live in `owned`. `shapes` are
// the steps' sample_shapes, which the replacements keep.
std::vector<const Op*> with_dense_convolutions(const std::vector<const Op*>& steps,
                                               const std::vector<std::vector<int64_t>>& shapes, const at::Tensor& x,
                                               std::vector<Op>& owned);
// A step's output y [..., features] as its samples: a dense convolution's (conv_output_shape set) viewed as
// [..., C, H, W], any other step's as it is.
at::Tensor dense_output(const Op& op, const at::Tensor& y);
// The matrix [C_out·H_out·W_out, C_in·H·W] of a convolution with this weight from inputs [C_in, H, W] to
// outputs [C_out, H_out, W_out] (groups 1), NCHW order on both sides.
at::Tensor dense_convolution_matrix(const at::Tensor& weight, const ops::Conv2dOptions& o, at::IntArrayRef in,
                                    at::IntArrayRef out);

// The two implementations of summaries(): Jets pushes every row forward (first and third derivatives per subset,
// second per pair; taylor.cpp), Adjoint pushes first and diagonal second derivatives forward and contracts
// them with the backward pass of the values (taylor_adjoint.cpp). Both are exact; they differ in cost.
enum class Route { Jets, Adjoint };

// The implementation summaries() runs (taylor_route_choice.cpp) for a batch of N samples on the CPU or a
// GPU: the one with the smaller estimated cost. GRNEWT_TAYLOR_ROUTE=jets|adjoint in the environment forces
// one (for tests and the bench).
Route route_for(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes, int64_t S,
                const summaries::Options& options, int64_t N, bool on_cpu);

// summaries(): checks the arguments, then runs the given implementation, or route_for's without one.
Result summaries_by(std::optional<Route> route, const std::vector<Op>& model, Loss loss, const at::Tensor& x,
                    const at::Tensor& target, int64_t S, const summaries::Options& options, Profile* profile = nullptr);

// Whether a step has second-order sources in the adjoint route: a layer with a direction on its weight, or an
// activation with σ″ or σ‴ nonzero somewhere (relu and identity have neither).
bool has_sources(const Op& op);

// Whether each step needs λ at its output in the adjoint implementation: it has sources and some subset is
// active at its input (taylor_adjoint.cpp; the route choice counts the same backward pass).
std::vector<bool> needs_adjoint(const std::vector<const Op*>& steps);

// Whether every second derivative along one subset, z_ss, is zero at every step (then the adjoint route's
// jets need no rows for them).
bool second_derivatives_vanish(const std::vector<const Op*>& steps, int64_t S);

// The adjoint implementation (taylor_adjoint.cpp) over the scheduled steps and their sample_shapes, arguments
// already checked. Its last steps from `tail_at` on run as a reverse-mode tail (steps.size(): none); without
// it, tail_start's choice on the CPU, none on a GPU.
Result adjoint_summaries(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                         Loss loss, const at::Tensor& x, const at::Tensor& target, int64_t S,
                         const summaries::Options& options, Profile* profile,
                         std::optional<size_t> tail_at = std::nullopt);

// Where the adjoint implementation's reverse-mode tail starts (taylor_adjoint.cpp): the step from which the
// steps left — Linear, flatten, relu/identity, each layer's subsets its own — cost fewer multiply-adds pulling
// the output's classes back than pushing the rows forward; steps.size() for no tail. `second`: whether the
// jets have second-derivative rows.
size_t tail_start(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes,
                  const at::Tensor& x, int64_t S, bool second);
// The earliest step the tail may start at: the longest suffix of Linear, flatten and relu/identity steps whose
// layers' subsets belong to those layers alone (steps.size(): none).
size_t tail_limit(const std::vector<const Op*>& steps, int64_t S);

}  // namespace grnewt::taylor::detail
