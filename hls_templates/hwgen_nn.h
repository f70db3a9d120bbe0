// hwgen HLS layer library (hand-written, reviewed; the generated code only instantiates it).
//
// Integer semantics are those of hwgen/nn/quant.py and hwgen/linebuf/model.py:
//   y = clamp(((acc + bias[c]) * mult[c] + (shift[c] > 0 ? 1 << (shift[c] - 1) : 0)) >> shift[c], lo, hi)
// with an arithmetic (flooring) shift, i.e. round-half-up; windows cover padded rows
// oy*S .. oy*S+K-1 and columns ox*S .. ox*S+K-1, padding (top, bottom, left, right) is made inside
// the line buffer (no extra padding layer).
//
// Streams carry one activation per word, pixels in raster order, channels in order within a
// pixel. Each layer is configured by a struct CFG with static const members and typedefs (see
// the generated *_config.h); static_asserts reject inconsistent configurations.
#ifndef HWGEN_NN_H
#define HWGEN_NN_H

// The vendor's ap_private default constructor reads its storage before setting it; GCC reports
// that at the vendor's lines even under -isystem once inlined, so it is silenced for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_int.h>
#pragma GCC diagnostic pop
#include <hls_stream.h>

// Vitis HLS's own AXI-Stream beat type (see hwgen::axis_word)
#if defined(__VITIS_HLS__) && !defined(HWGEN_STREAM_MODEL)
#define HWGEN_VITIS_AXIS 1
#include <ap_axi_sdata.h>
#else
#define HWGEN_VITIS_AXIS 0
#endif

// HLS pragmas only under synthesis, so that g++ -Wall -Werror does not see unknown pragmas.
#ifdef __SYNTHESIS__
#define HWGEN_PRAGMA_STR(x) _Pragma(#x)
#define HWGEN_PRAGMA(x) HWGEN_PRAGMA_STR(x)
#else
#define HWGEN_PRAGMA(x)
#endif

// Cycle counting in hwgen's C-simulation stream model only: HWGEN_TICK(CFG, n) adds n cycles to
// the layer CFG (its tick_name()); each pipelined loop iteration is one cycle, or PE cycles when
// it writes PE words to a one-word-per-cycle stream.
#ifdef HWGEN_STREAM_MODEL
#define HWGEN_TICK(CFG, n)                                                      \
    do {                                                                        \
        static long long& hwgen_ticks_ = hwgen_csim::ticks(CFG::tick_name());   \
        hwgen_ticks_ += (n);                                                    \
    } while (0)
#else
#define HWGEN_TICK(CFG, n) \
    do {                   \
    } while (0)
#endif

namespace hwgen {

constexpr int clog2(long long n) { return n <= 1 ? 0 : 1 + clog2((n + 1) / 2); }

// One AXI-Stream beat: TDATA, TKEEP, TSTRB and TLAST. Vitis HLS (2020.1 on) gives a top-level
// stream TLAST/TKEEP/TSTRB only for its own hls::axis type from ap_axi_sdata.h; a struct of ours
// would become TDATA alone, and an AXI DMA waiting for TLAST would hang. Vivado HLS maps the
// members named data/keep/strb/last of a plain struct to those signals, and hwgen's C simulation
// (HWGEN_STREAM_MODEL) uses the same struct. Either way the code below uses only these members.
#if HWGEN_VITIS_AXIS
template <int W>
using axis_word = hls::axis<ap_int<W>, 0, 0, 0>;
#else
template <int W>
struct axis_word {
    ap_int<W> data;
    ap_uint<(W + 7) / 8> keep;
    ap_uint<(W + 7) / 8> strb;
    ap_uint<1> last;
};
#endif

// ---------------------------------------------------------------------------------------------
// Requantization (the one shared definition, see hwgen/nn/quant.py).
template <class CFG>
typename CFG::out_t requantize(typename CFG::accum_t acc, int bias, int mult, int shift) {
    static_assert(CFG::act_lo <= CFG::act_hi, "requantize: empty clamp range");
    ap_int<64> t = ap_int<64>(acc) + ap_int<64>(bias);
    t = t * ap_int<64>(mult);
    if (shift > 0) t += ap_int<64>(1) << (shift - 1);
    t = t >> shift;
    if (t < CFG::act_lo) t = CFG::act_lo;
    if (t > CFG::act_hi) t = CFG::act_hi;
    return typename CFG::out_t(t);
}

// ---------------------------------------------------------------------------------------------
// Sliding window with built-in padding over a streamed [H, W, C] map.
//
// Storage: (K-1) rows x W x C words (real columns only: pad columns are made, not stored) plus
// the K x K x C window, kept as C entries of K x K words. Call advance() for every padded
// position (py, px) in raster order; it reads the C words of a real pixel from the stream and
// shifts one column into the window of every channel. ready(py, px) tells whether the window
// now ends an output position.
template <class CFG>
class SlidingWindow {
  public:
    static const int K = CFG::kernel;
    static const int S = CFG::stride;
    static const int H = CFG::in_height;
    static const int W = CFG::in_width;
    static const int C = CFG::in_channels;
    static const int LB_ROWS = K > 1 ? K - 1 : 1;
    typedef typename CFG::in_t T;

    static_assert(K >= 1 && K <= 7, "SlidingWindow: kernel must be in 1..7");
    static_assert(S >= 1 && S <= 4, "SlidingWindow: stride must be in 1..4");
    static_assert(H >= 1 && W >= 1 && C >= 1, "SlidingWindow: empty input map");
    static_assert(CFG::pad_top >= 0 && CFG::pad_bottom >= 0 && CFG::pad_left >= 0 && CFG::pad_right >= 0,
                  "SlidingWindow: negative padding");
    static_assert(CFG::pad_top < K && CFG::pad_bottom < K && CFG::pad_left < K && CFG::pad_right < K,
                  "SlidingWindow: padding must be smaller than the kernel");
    static_assert(CFG::out_height == (H + CFG::pad_top + CFG::pad_bottom - K) / S + 1,
                  "SlidingWindow: out_height does not match kernel, stride and padding");
    static_assert(CFG::out_width == (W + CFG::pad_left + CFG::pad_right - K) / S + 1,
                  "SlidingWindow: out_width does not match kernel, stride and padding");

    T lb[LB_ROWS][W][C];
    T win[C][K][K];

    void advance(hls::stream<T>& in, int py, int px) {
        HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=lb complete dim=1)
        HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=win complete dim=2)
        HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=win complete dim=3)
        const int iy = py - CFG::pad_top;
        const int ix = px - CFG::pad_left;
        const bool xreal = ix >= 0 && ix < W;
        const bool real = xreal && iy >= 0 && iy < H;
        const T pad = T(CFG::pad_value);
        HWGEN_TICK(CFG, C);
        for (int c = 0; c < C; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            T col[K];
            for (int r = 0; r < K - 1; r++) {
                const int row = iy - (K - 1) + r;
                col[r] = (xreal && row >= 0 && row < H) ? lb[row % LB_ROWS][ix][c] : pad;
            }
            const T v = real ? in.read() : pad;
            col[K - 1] = v;
            // Row iy replaces row iy-(K-1), which col[0] has just read.
            if (real && K > 1) lb[iy % LB_ROWS][ix][c] = v;
            for (int r = 0; r < K; r++) {
                for (int k = 0; k < K - 1; k++) win[c][r][k] = win[c][r][k + 1];
                win[c][r][K - 1] = col[r];
            }
        }
    }

    static bool ready(int py, int px) {
        const int y0 = py - (K - 1), x0 = px - (K - 1);
        return y0 >= 0 && x0 >= 0 && y0 % S == 0 && x0 % S == 0 && y0 / S < CFG::out_height &&
               x0 / S < CFG::out_width;
    }
};

// ---------------------------------------------------------------------------------------------
// Grouped KxK convolution (depthwise: groups == in_channels == out_channels; pointwise: K == 1)
// with bias, per-channel requantization and the activation clamp.
//
// Parallelism: PE output channels x SIMD input channels x K*K taps per step. Weights are laid out
// as PE banks (one per PE lane) of weight_steps words of weight_lanes = SIMD*K*K packed weights:
// w[p][og*(CPG/SIMD) + sg][s*K*K + ky*K + kx] is golden weight [ky, kx, sg*SIMD + s, og*PE + p].
// Output channels of one pixel leave in order, PE at a time.
template <class CFG>
void conv2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
            const typename CFG::weight_store_t w[CFG::pe][CFG::weight_steps][CFG::weight_lanes],
            const typename CFG::bias_store_t bias[],
            const typename CFG::mult_store_t mult[], const typename CFG::shift_store_t shift[]) {
    static const int K = CFG::kernel;
    static const int CIN = CFG::in_channels;
    static const int COUT = CFG::out_channels;
    static const int G = CFG::groups;
    static const int CPG = CIN / G;
    static const int OPG = COUT / G;
    static const int PE = CFG::pe;
    static const int SIMD = CFG::simd;
    static_assert(CIN % G == 0 && COUT % G == 0, "conv2d: groups must divide in and out channels");
    static_assert(PE >= 1 && COUT % PE == 0, "conv2d: out_channels must be divisible by PE");
    static_assert(SIMD >= 1 && CPG % SIMD == 0, "conv2d: input channels per group must be divisible by SIMD");
    static_assert(G == 1 || OPG % PE == 0 || PE % OPG == 0, "conv2d: PE must not straddle groups unevenly");
    static_assert(CFG::accum_width >= CFG::act_width + CFG::weight_width + clog2(K * K * CPG) - 1,
                  "conv2d: accumulator too narrow for the reduction");
    static_assert(CFG::accum_width <= 48, "conv2d: accumulator wider than 48 bits");
    static_assert(CFG::weight_steps == (COUT / PE) * (CPG / SIMD), "conv2d: weight_steps must be COUT/PE * CPG/SIMD");
    static_assert(CFG::weight_lanes == SIMD * K * K, "conv2d: weight_lanes must be SIMD * K * K");
    typedef typename CFG::accum_t acc_t;

    static SlidingWindow<CFG> sw;
    acc_t acc[PE];
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=acc complete)
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=w complete dim=1)
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=w complete dim=3)

    for (int py = 0; py < CFG::in_height + CFG::pad_top + CFG::pad_bottom; py++) {
        for (int px = 0; px < CFG::in_width + CFG::pad_left + CFG::pad_right; px++) {
            sw.advance(in, py, px);
            if (!SlidingWindow<CFG>::ready(py, px)) continue;
            for (int og = 0; og < COUT / PE; og++) {
                for (int sg = 0; sg < CPG / SIMD; sg++) {
                    HWGEN_PRAGMA(HLS PIPELINE II=1)
                    for (int p = 0; p < PE; p++) {
                        const int o = og * PE + p;
                        const int g = o / OPG;
                        acc_t part = 0;
                        for (int s = 0; s < SIMD; s++) {
                            const int ci = sg * SIMD + s;
                            for (int ky = 0; ky < K; ky++) {
                                for (int kx = 0; kx < K; kx++) {
                                    const typename CFG::weight_t wv =
                                        w[p][og * (CPG / SIMD) + sg][(s * K + ky) * K + kx];
                                    part += sw.win[g * CPG + ci][ky][kx] * wv;
                                }
                            }
                        }
                        acc[p] = (sg == 0 ? acc_t(0) : acc[p]) + part;
                    }
                    HWGEN_TICK(CFG, sg == CPG / SIMD - 1 ? PE : 1);
                    if (sg == CPG / SIMD - 1) {
                        for (int p = 0; p < PE; p++) {
                            const int o = og * PE + p;
                            out.write(requantize<CFG>(acc[p], bias[o], mult[o], shift[o]));
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KxK max pooling. Non-overlapping pooling without padding (kernel == stride, exact tiling)
// keeps one row of partial maxima (W/K x C words); anything else uses the sliding window, padded
// with the smallest activation so that padding never wins.
template <class CFG>
void maxpool2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    static const int K = CFG::kernel;
    static const int C = CFG::in_channels;
    static_assert(CFG::in_channels == CFG::out_channels, "maxpool2d: channels must not change");
    typedef typename CFG::in_t T;
    if (CFG::tiled) {
        static_assert(!CFG::tiled || (CFG::stride == K && CFG::in_height % K == 0 && CFG::in_width % K == 0 &&
                                      CFG::pad_top + CFG::pad_bottom + CFG::pad_left + CFG::pad_right == 0),
                      "maxpool2d: tiled pooling needs kernel == stride, no padding and an exact tiling");
        static T part[CFG::out_width > 0 ? CFG::out_width : 1][C];
        for (int y = 0; y < CFG::in_height; y++) {
            for (int x = 0; x < CFG::in_width; x++) {
                for (int c = 0; c < C; c++) {
                    HWGEN_PRAGMA(HLS PIPELINE II=1)
                    HWGEN_TICK(CFG, 1);
                    const T v = in.read();
                    const bool first = y % K == 0 && x % K == 0;
                    const T m = (first || v > part[x / K][c]) ? v : part[x / K][c];
                    part[x / K][c] = m;
                    if (y % K == K - 1 && x % K == K - 1) out.write(m);
                }
            }
        }
        return;
    }
    static SlidingWindow<CFG> sw;
    for (int py = 0; py < CFG::in_height + CFG::pad_top + CFG::pad_bottom; py++) {
        for (int px = 0; px < CFG::in_width + CFG::pad_left + CFG::pad_right; px++) {
            sw.advance(in, py, px);
            if (!SlidingWindow<CFG>::ready(py, px)) continue;
            HWGEN_TICK(CFG, C);
            for (int c = 0; c < C; c++) {
                HWGEN_PRAGMA(HLS PIPELINE II=1)
                T m = sw.win[c][0][0];
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++)
                        if (sw.win[c][ky][kx] > m) m = sw.win[c][ky][kx];
                out.write(m);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Space-to-depth by S: output channel (dy*S + dx)*C + c of pixel (y, x) is input pixel
// (y*S + dy, x*S + dx), channel c (hwgen/nn/ops.py reorg). Storage: S-1 rows of W x C words
// plus S pixels of the last row of each block.
template <class CFG>
void reorg(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    static const int S = CFG::stride;
    static const int W = CFG::in_width;
    static const int C = CFG::in_channels;
    static_assert(S >= 2, "reorg: stride must be at least 2");
    static_assert(CFG::in_height % S == 0 && W % S == 0, "reorg: H and W must be divisible by the stride");
    static_assert(CFG::out_channels == C * S * S, "reorg: out_channels must be in_channels * stride^2");
    typedef typename CFG::in_t T;
    static T rows[S - 1][W][C];
    static T last[S][C];
    for (int y = 0; y < CFG::in_height; y++) {
        for (int x = 0; x < W; x++) {
            const int dy = y % S, dx = x % S;
            HWGEN_TICK(CFG, C);
            for (int c = 0; c < C; c++) {
                HWGEN_PRAGMA(HLS PIPELINE II=1)
                const T v = in.read();
                if (dy < S - 1) rows[dy][x][c] = v;
                else last[dx][c] = v;
            }
            if (dy == S - 1 && dx == S - 1) {
                HWGEN_TICK(CFG, S * S * C);
                for (int j = 0; j < S * S * C; j++) {
                    HWGEN_PRAGMA(HLS PIPELINE II=1)
                    const int by = j / (S * C), bx = (j / C) % S, c = j % C;
                    out.write(by < S - 1 ? rows[by][x - (S - 1) + bx][c] : last[bx][c]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channel concatenation of two maps of the same height and width: per pixel, A's channels then B's.
template <class CFG>
void concat2(hls::stream<typename CFG::in_t>& a, hls::stream<typename CFG::in_t>& b,
             hls::stream<typename CFG::out_t>& out) {
    static_assert(CFG::out_channels == CFG::a_channels + CFG::b_channels, "concat2: channel counts");
    for (int i = 0; i < CFG::height * CFG::width; i++) {
        HWGEN_TICK(CFG, CFG::a_channels + CFG::b_channels);
        for (int c = 0; c < CFG::a_channels; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            out.write(a.read());
        }
        for (int c = 0; c < CFG::b_channels; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            out.write(b.read());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Residual add: the elementwise weighted sum of N (2..4) maps of the same shape, then the
// per-channel requantization and activation clamp of a conv (hwgen/nn/model.py):
//   y[c] = requantize(sum_i w[i][c] * x_i[c] + bias[c])
// The integer weights bring the inputs to a common scale (hwgen/nn/quantize.py). Per pixel and
// channel, one word of every input is read and one written: one cycle per output word.
template <class CFG>
typename CFG::out_t add_channel(const typename CFG::in_t v[CFG::inputs], int c,
                                const typename CFG::weight_store_t w[CFG::inputs][CFG::out_channels],
                                const typename CFG::bias_store_t bias[], const typename CFG::mult_store_t mult[],
                                const typename CFG::shift_store_t shift[]) {
    static_assert(CFG::inputs >= 2 && CFG::inputs <= 4, "add: 2..4 inputs");
    static_assert(CFG::in_height == CFG::out_height && CFG::in_width == CFG::out_width &&
                      CFG::in_channels == CFG::out_channels, "add: the inputs and the output have one shape");
    static_assert(CFG::accum_width >= CFG::act_width + CFG::weight_width + clog2(CFG::inputs) - 1,
                  "add: accumulator too narrow for the sum");
    static_assert(CFG::accum_width <= 48, "add: accumulator wider than 48 bits");
    typename CFG::accum_t acc = 0;
    for (int i = 0; i < CFG::inputs; i++) acc += v[i] * typename CFG::weight_t(w[i][c]);
    return requantize<CFG>(acc, bias[c], mult[c], shift[c]);
}

#define HWGEN_ADD_ROMS                                                                             \
    const typename CFG::weight_store_t w[CFG::inputs][CFG::out_channels],                          \
        const typename CFG::bias_store_t bias[], const typename CFG::mult_store_t mult[],          \
        const typename CFG::shift_store_t shift[]

template <class CFG>
void add(hls::stream<typename CFG::in_t>& a, hls::stream<typename CFG::in_t>& b,
         hls::stream<typename CFG::out_t>& out, HWGEN_ADD_ROMS) {
    static_assert(CFG::inputs == 2, "add: this form takes 2 inputs");
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=w complete dim=1)
    for (int i = 0; i < CFG::out_height * CFG::out_width; i++) {
        HWGEN_TICK(CFG, CFG::out_channels);
        for (int c = 0; c < CFG::out_channels; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            const typename CFG::in_t v[2] = {a.read(), b.read()};
            out.write(add_channel<CFG>(v, c, w, bias, mult, shift));
        }
    }
}

template <class CFG>
void add(hls::stream<typename CFG::in_t>& a, hls::stream<typename CFG::in_t>& b,
         hls::stream<typename CFG::in_t>& d, hls::stream<typename CFG::out_t>& out, HWGEN_ADD_ROMS) {
    static_assert(CFG::inputs == 3, "add: this form takes 3 inputs");
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=w complete dim=1)
    for (int i = 0; i < CFG::out_height * CFG::out_width; i++) {
        HWGEN_TICK(CFG, CFG::out_channels);
        for (int c = 0; c < CFG::out_channels; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            const typename CFG::in_t v[3] = {a.read(), b.read(), d.read()};
            out.write(add_channel<CFG>(v, c, w, bias, mult, shift));
        }
    }
}

template <class CFG>
void add(hls::stream<typename CFG::in_t>& a, hls::stream<typename CFG::in_t>& b,
         hls::stream<typename CFG::in_t>& d, hls::stream<typename CFG::in_t>& e,
         hls::stream<typename CFG::out_t>& out, HWGEN_ADD_ROMS) {
    static_assert(CFG::inputs == 4, "add: this form takes 4 inputs");
    HWGEN_PRAGMA(HLS ARRAY_PARTITION variable=w complete dim=1)
    for (int i = 0; i < CFG::out_height * CFG::out_width; i++) {
        HWGEN_TICK(CFG, CFG::out_channels);
        for (int c = 0; c < CFG::out_channels; c++) {
            HWGEN_PRAGMA(HLS PIPELINE II=1)
            const typename CFG::in_t v[4] = {a.read(), b.read(), d.read(), e.read()};
            out.write(add_channel<CFG>(v, c, w, bias, mult, shift));
        }
    }
}
#undef HWGEN_ADD_ROMS

// ---------------------------------------------------------------------------------------------
// KxK average pooling: the window sum (padding counts as zero) requantized per channel, i.e. a
// depthwise conv with unit weights whose 1/(K*K) lives in the multiplier (hwgen/nn/model.py).
// avgpool_tiled: non-overlapping pooling without padding that tiles the map (a global pool
// included) keeps one row of partial sums (W/K x C accumulators; C for a global pool), no line
// buffer, and any kernel size. avgpool2d: anything else, on the sliding window with built-in
// zero padding.
template <class CFG>
void avgpool_tiled(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
                   const typename CFG::bias_store_t bias[], const typename CFG::mult_store_t mult[],
                   const typename CFG::shift_store_t shift[]) {
    static const int K = CFG::kernel;
    static const int C = CFG::in_channels;
    static_assert(CFG::in_channels == CFG::out_channels, "avgpool_tiled: channels must not change");
    static_assert(CFG::stride == K && CFG::in_height % K == 0 && CFG::in_width % K == 0 &&
                      CFG::pad_top + CFG::pad_bottom + CFG::pad_left + CFG::pad_right == 0,
                  "avgpool_tiled: needs kernel == stride, no padding and an exact tiling");
    static_assert(CFG::out_height == CFG::in_height / K && CFG::out_width == CFG::in_width / K,
                  "avgpool_tiled: output size must be the input's divided by the kernel");
    static_assert(CFG::accum_width >= CFG::act_width + clog2(K * K), "avgpool_tiled: accumulator too narrow for the sum");
    static_assert(CFG::accum_width <= 48, "avgpool_tiled: accumulator wider than 48 bits");
    typedef typename CFG::in_t T;
    typedef typename CFG::accum_t acc_t;
    static acc_t part[CFG::out_width][C];
    for (int y = 0; y < CFG::in_height; y++) {
        for (int x = 0; x < CFG::in_width; x++) {
            for (int c = 0; c < C; c++) {
                HWGEN_PRAGMA(HLS PIPELINE II=1)
                HWGEN_TICK(CFG, 1);
                const T v = in.read();
                const bool first = y % K == 0 && x % K == 0;
                const acc_t s = (first ? acc_t(0) : part[x / K][c]) + v;
                part[x / K][c] = s;
                if (y % K == K - 1 && x % K == K - 1) out.write(requantize<CFG>(s, bias[c], mult[c], shift[c]));
            }
        }
    }
}

template <class CFG>
void avgpool2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
               const typename CFG::bias_store_t bias[], const typename CFG::mult_store_t mult[],
               const typename CFG::shift_store_t shift[]) {
    static const int K = CFG::kernel;
    static const int C = CFG::in_channels;
    static_assert(CFG::in_channels == CFG::out_channels, "avgpool2d: channels must not change");
    static_assert(CFG::pad_value == 0, "avgpool2d: padding counts as zero");
    static_assert(CFG::accum_width >= CFG::act_width + clog2(K * K), "avgpool2d: accumulator too narrow for the sum");
    static_assert(CFG::accum_width <= 48, "avgpool2d: accumulator wider than 48 bits");
    typedef typename CFG::accum_t acc_t;
    static SlidingWindow<CFG> sw;
    for (int py = 0; py < CFG::in_height + CFG::pad_top + CFG::pad_bottom; py++) {
        for (int px = 0; px < CFG::in_width + CFG::pad_left + CFG::pad_right; px++) {
            sw.advance(in, py, px);
            if (!SlidingWindow<CFG>::ready(py, px)) continue;
            HWGEN_TICK(CFG, C);
            for (int c = 0; c < C; c++) {
                HWGEN_PRAGMA(HLS PIPELINE II=1)
                acc_t s = 0;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) s += sw.win[c][ky][kx];
                out.write(requantize<CFG>(s, bias[c], mult[c], shift[c]));
            }
        }
    }
}

// Copies a stream of `words` words to two consumers.
template <class T, int WORDS>
void fork2(hls::stream<T>& in, hls::stream<T>& a, hls::stream<T>& b) {
    static_assert(WORDS >= 1, "fork2: empty stream");
    for (int i = 0; i < WORDS; i++) {
        HWGEN_PRAGMA(HLS PIPELINE II=1)
        const T v = in.read();
        a.write(v);
        b.write(v);
    }
}

// ---------------------------------------------------------------------------------------------
// Detection head decode: over a [H, W, A*5] map (per anchor tx, ty, tw, th, confidence), picks
// the cell and anchor with the highest confidence (the first one in stream order on ties) and
// writes the record: confidence, anchor, cell_y, cell_x, tx, ty, tw, th.
template <class CFG>
void detect_head(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    static const int A = CFG::anchors;
    static_assert(CFG::in_channels == A * 5, "detect_head: input channels must be anchors * 5");
    static_assert(CFG::out_channels == 8, "detect_head: the record has 8 fields");
    typedef typename CFG::in_t T;
    typedef typename CFG::out_t R;
    R best[8];
    bool have = false;
    for (int y = 0; y < CFG::in_height; y++) {
        for (int x = 0; x < CFG::in_width; x++) {
            for (int a = 0; a < A; a++) {
                T v[5];
                HWGEN_TICK(CFG, 5);
                for (int j = 0; j < 5; j++) {
                    HWGEN_PRAGMA(HLS PIPELINE II=1)
                    v[j] = in.read();
                }
                if (!have || R(v[4]) > best[0]) {
                    have = true;
                    best[0] = v[4];
                    best[1] = a;
                    best[2] = y;
                    best[3] = x;
                    for (int j = 0; j < 4; j++) best[4 + j] = v[j];
                }
            }
        }
    }
    HWGEN_TICK(CFG, 8);
    for (int j = 0; j < 8; j++) out.write(best[j]);
}

// ---------------------------------------------------------------------------------------------
// AXI-Stream adapters at the top level.
template <class T, int WORDS, int W>
void axis_to_stream(hls::stream<axis_word<W> >& in, hls::stream<T>& out) {
    for (int i = 0; i < WORDS; i++) {
        HWGEN_PRAGMA(HLS PIPELINE II=1)
        const axis_word<W> beat = in.read();
        out.write(T(beat.data));
    }
}

template <class T, int WORDS, int W>
void stream_to_axis(hls::stream<T>& in, hls::stream<axis_word<W> >& out) {
    for (int i = 0; i < WORDS; i++) {
        HWGEN_PRAGMA(HLS PIPELINE II=1)
        axis_word<W> beat;
        beat.data = in.read();
        beat.keep = -1;  // every byte of TDATA is data (an AXI DMA counts bytes by TKEEP)
        beat.strb = -1;
        beat.last = i == WORDS - 1;
        out.write(beat);
    }
}

}  // namespace hwgen

#endif  // HWGEN_NN_H
