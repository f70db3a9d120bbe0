// hwgen's C-simulation model of hls::stream (hand-written; used by `hwgen hls csim` only, never
// by HLS synthesis, which uses the vendor's own header).
//
// Semantics: an unbounded FIFO (a DATAFLOW region runs its processes one after another in C
// simulation, so FIFOs must hold whole maps here; the synthesized depths come from the
// STREAM pragmas). Reading an empty stream aborts with the stream's name instead of returning
// garbage. Streams constructed with a name can be tapped: after hwgen_csim::tap_enable(name),
// every value written to a stream of that name is also appended to hwgen_csim::tap(name).
// hwgen_csim::ticks(name) counts the cycles a layer's pipelined loops take at their initiation
// intervals (hwgen_nn.h adds to it through HWGEN_TICK), to check hwgen's cycle model.
#ifndef HWGEN_CSIM_HLS_STREAM_H
#define HWGEN_CSIM_HLS_STREAM_H

#define HWGEN_STREAM_MODEL 1

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <vector>

// The vendor's ap_private default constructor reads its storage before setting it; GCC reports
// that at the vendor's lines even under -isystem once inlined, so it is silenced for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_int.h>
#pragma GCC diagnostic pop

namespace hwgen_csim {

struct TapRegistry {
    std::map<std::string, std::vector<long long> > taps;
    std::map<std::string, long long> ticks;
    static TapRegistry& get() {
        static TapRegistry r;
        return r;
    }
};

inline long long& ticks(const std::string& name) { return TapRegistry::get().ticks[name]; }
inline void tap_enable(const std::string& name) { TapRegistry::get().taps[name]; }
inline std::vector<long long>& tap(const std::string& name) { return TapRegistry::get().taps[name]; }
inline std::vector<long long>* tap_find(const std::string& name) {
    std::map<std::string, std::vector<long long> >& t = TapRegistry::get().taps;
    std::map<std::string, std::vector<long long> >::iterator it = t.find(name);
    return it == t.end() ? 0 : &it->second;
}

// Which element types can be tapped, and their integer value.
template <class T> struct tap_value {
    static bool ok() { return false; }
    static long long get(const T&) { return 0; }
};
template <int W> struct tap_value<ap_int<W> > {
    static bool ok() { return true; }
    static long long get(const ap_int<W>& v) { return v.to_int64(); }
};
template <int W> struct tap_value<ap_uint<W> > {
    static bool ok() { return true; }
    static long long get(const ap_uint<W>& v) { return (long long)v.to_uint64(); }
};

}  // namespace hwgen_csim

namespace hls {

template <class T>
class stream {
  public:
    stream() : name_("(unnamed)"), tap_(0) {}
    explicit stream(const char* name) : name_(name), tap_(0) {
        if (hwgen_csim::tap_value<T>::ok()) tap_ = hwgen_csim::tap_find(name_);
    }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    T read() {
        if (q_.empty()) {
            std::fprintf(stderr, "hls::stream '%s' read while empty\n", name_.c_str());
            std::abort();
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    void read(T& v) { v = read(); }
    bool read_nb(T& v) {
        if (q_.empty()) return false;
        v = read();
        return true;
    }
    void write(const T& v) {
        if (tap_) tap_->push_back(hwgen_csim::tap_value<T>::get(v));
        q_.push_back(v);
        if (q_.size() > max_size_) max_size_ = q_.size();
    }
    bool write_nb(const T& v) {
        write(v);
        return true;
    }
    void operator>>(T& v) { v = read(); }
    void operator<<(const T& v) { write(v); }
    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    unsigned size() const { return (unsigned)q_.size(); }
    unsigned long max_size() const { return max_size_; }
    const std::string& name() const { return name_; }

  private:
    std::string name_;
    std::vector<long long>* tap_;
    std::deque<T> q_;
    unsigned long max_size_ = 0;
};

}  // namespace hls

#endif  // HWGEN_CSIM_HLS_STREAM_H
