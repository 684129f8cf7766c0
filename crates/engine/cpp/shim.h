// SamuraiRoto C++ shim: the few libtorch C++ calls that tch does not expose.
// Free functions only; anything that can throw is declared to throw so cxx maps it to Result.
#pragma once
#include <cstdint>
#include "rust/cxx.h"

namespace samurai_roto {

struct DeviceMemoryStats;

// Whether libtorch was built with CUDA and sees at least one device.
bool cuda_available() noexcept;
// Number of visible CUDA devices (0 without CUDA).
int64_t cuda_device_count() noexcept;
// Memory statistics of libtorch's caching allocator for one CUDA device.
DeviceMemoryStats cuda_memory_stats(int8_t device);
// Returns cached, unused blocks of the CUDA caching allocator to the driver.
void cuda_empty_cache();
// Resets the peak counters of one CUDA device.
void cuda_reset_peak_stats(int8_t device);
// The loaded libtorch's own description of its build (`at::show_config()`: version, CPU
// capability in use, oneDNN, CUDA runtime, build settings).
rust::String libtorch_config();
// The libtorch version of the headers this shim was compiled against (`TORCH_VERSION`).
rust::String libtorch_header_version() noexcept;

}  // namespace samurai_roto
