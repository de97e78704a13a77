// Host shim for voice_stage.cu: the CUDA keywords it uses, mapped so the file compiles as
// plain C++ (tests/cuda_host_kernel.rs). The launcher (launch.cpp) sets blockIdx/threadIdx in
// loops, one "thread" after another; the kernel has no shared memory or barriers, so running
// its threads in sequence is exactly what the GPU computes.
#pragma once

#define __global__
#define __device__
#define __forceinline__ inline

struct ShimDim3 {
    unsigned int x, y, z;
};

static ShimDim3 threadIdx, blockIdx, blockDim, gridDim;
