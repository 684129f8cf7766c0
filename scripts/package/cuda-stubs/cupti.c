/* SamuraiRoto's CPU release: a stand-in for libcupti.so.13 (NVIDIA's CUDA profiling
 * interface), written for this project. See cudart.c for why the CPU archive needs a file of
 * this name. Every function libtorch_cpu.so imports from CUPTI is defined here and fails with
 * CUPTI_ERROR_NOT_SUPPORTED, except cuptiGetResultString, which explains; Kineto (PyTorch's
 * profiler) only calls CUPTI when asked to trace GPU activity, which a CPU run never does.
 * The extra arguments of the real signatures are ignored: under the x86-64 System V calling
 * convention the caller owns its arguments, so a function that reads none of them is called
 * correctly whatever the caller passes. */
#include <stddef.h>

enum { CUPTI_SUCCESS = 0, CUPTI_ERROR_NOT_SUPPORTED = 27 };

#define UNSUPPORTED(name) \
  int name(void) { return CUPTI_ERROR_NOT_SUPPORTED; }

UNSUPPORTED(cuptiActivityDisable)
UNSUPPORTED(cuptiActivityEnable)
UNSUPPORTED(cuptiActivityEnableCudaEventDeviceTimestamps)
UNSUPPORTED(cuptiActivityEnableDriverApi)
UNSUPPORTED(cuptiActivityEnableRuntimeApi)
UNSUPPORTED(cuptiActivityFlushAll)
UNSUPPORTED(cuptiActivityGetNextRecord)
UNSUPPORTED(cuptiActivityGetNumDroppedRecords)
UNSUPPORTED(cuptiActivityPopExternalCorrelationId)
UNSUPPORTED(cuptiActivityPushExternalCorrelationId)
UNSUPPORTED(cuptiActivityRegisterCallbacks)
UNSUPPORTED(cuptiActivityRegisterTimestampCallback)
UNSUPPORTED(cuptiActivitySetAttribute)
UNSUPPORTED(cuptiEnableCallback)
UNSUPPORTED(cuptiEnableDomain)
UNSUPPORTED(cuptiFinalize)
UNSUPPORTED(cuptiGetVersion)
UNSUPPORTED(cuptiSubscribe)
UNSUPPORTED(cuptiUnsubscribe)

int cuptiGetResultString(int result, const char **text) {
  (void)result;
  if (text) *text = "CUPTI is not part of SamuraiRoto's CPU release (its libcupti is a stand-in)";
  return CUPTI_SUCCESS;
}
