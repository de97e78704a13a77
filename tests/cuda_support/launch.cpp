// Runs voice_stage.cu's kernels on the host, thread by thread (see shim.h). Built by the
// tests with `-include shim.h -I src/synth/cuda`.
#include "voice_stage.cu"

template <typename Kernel>
static void launch(unsigned int grid_x, unsigned int grid_y, unsigned int threads, Kernel kernel)
{
    gridDim = {grid_x, grid_y, 1};
    blockDim = {threads, 1, 1};
    for (unsigned int y = 0; y < grid_y; ++y) {
        for (unsigned int x = 0; x < grid_x; ++x) {
            for (unsigned int t = 0; t < threads; ++t) {
                blockIdx = {x, y, 0};
                threadIdx = {t, 0, 0};
                kernel();
            }
        }
    }
}

extern "C" void host_voice_stage_block(const Voice* voices, unsigned int count,
    unsigned int frames, float* out, unsigned int threads)
{
    launch((BLOCK_FRAMES + threads - 1) / threads, 1, threads,
        [&] { voice_stage_block(voices, count, frames, out); });
}

extern "C" void host_voice_stage_batch(const Voice* voices, const unsigned int* starts,
    unsigned int blocks, unsigned int frames, float* out, unsigned int threads)
{
    launch((BLOCK_FRAMES + threads - 1) / threads, blocks, threads,
        [&] { voice_stage_batch(voices, starts, frames, out); });
}
