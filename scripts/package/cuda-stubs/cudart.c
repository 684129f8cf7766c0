/* SamuraiRoto's CPU release: a stand-in for libcudart.so.13, written for this project.
 *
 * PyPI's torch wheel is built with CUDA, and its libtorch_cpu.so names the CUDA runtime as
 * needed (the profiler, Kineto, asks it how many GPUs there are), so the dynamic loader
 * refuses to start the helper without a file of this name. The CPU archive ships this
 * stand-in instead of NVIDIA's runtime: it defines the functions libtorch_cpu.so imports
 * (scripts/package/assemble.py checks that list against the wheel at packaging time) and
 * reports a machine without a CUDA device. Nothing here comes from NVIDIA's headers: the
 * values below are the documented numeric error codes of the CUDA runtime API.
 *
 * Built by scripts/package.sh with zig cc for glibc 2.28, with version node libcudart.so.13
 * (libtorch_cpu.so binds its imports to that version). */
#include <stddef.h>

enum { CUDA_SUCCESS = 0, CUDA_ERROR_NO_DEVICE = 100 };

static const char NOT_SHIPPED[] =
    "no CUDA device: this is SamuraiRoto's CPU release (its libcudart is a stand-in; "
    "install the CUDA release to use a GPU)";

int cudaGetDeviceCount(int *count) {
  if (count) *count = 0;
  return CUDA_ERROR_NO_DEVICE;
}

/* The runtime API documents a driver version of 0 when no driver is installed. */
int cudaDriverGetVersion(int *version) {
  if (version) *version = 0;
  return CUDA_SUCCESS;
}

int cudaRuntimeGetVersion(int *version) {
  if (version) *version = 0;
  return CUDA_ERROR_NO_DEVICE;
}

int cudaDeviceSynchronize(void) { return CUDA_ERROR_NO_DEVICE; }

int cudaGetDeviceProperties(void *prop, int device) {
  (void)prop;
  (void)device;
  return CUDA_ERROR_NO_DEVICE;
}

const char *cudaGetErrorString(int error) {
  (void)error;
  return NOT_SHIPPED;
}
