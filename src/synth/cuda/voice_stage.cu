// The CUDA voice stage: src/synth/voice.rs and the loop of src/synth/cpu.rs, line for line,
// in f32. Change them together; tests/cuda_host_kernel.rs runs this file on the host against
// the Rust stage, and .ci/cuda-check keeps voice_stage.ptx in step with it.
//
// Compiled with --fmad=false (and IEEE division, the NVRTC default) so every operation rounds
// exactly as Rust's does: Rust never fuses a*b+c, so neither may we. One thread per output
// frame sums its voices in the CPU's order, so the GPU gives the CPU's samples bit for bit.

#define BLOCK_FRAMES 512  // crate::audio::BLOCK_FRAMES
#define NUM_BUSES 3       // crate::synth::bus::NUM_BUSES

// crate::synth::voice::Voice, #[repr(C)], 64 bytes.
struct Voice {
    float carrier_phase;
    float carrier_inc;
    float mod_phase;
    float mod_inc;
    float mod_index;
    float mod_index_step;
    float age;
    float inv_attack;
    float release_at;
    float inv_release;
    float sustain;
    float decay;
    float gain_l;
    float gain_r;
    unsigned int bus;
    unsigned int pad;
};

// sin(2*pi*x) for x in turns: round to the nearest whole turn by adding and subtracting
// 1.5 * 2^23, then an odd polynomial in z = 2r (voice.rs: sin_turns).
__device__ __forceinline__ float sin_turns(float x)
{
    const float ROUND = 12582912.0f;
    float r = x - ((x + ROUND) - ROUND);
    float z = 2.0f * r;
    float z2 = z * z;
    float p = (((0.006003855f * z2 - 0.07451085f) * z2 + 0.52380836f) * z2 - 2.0260892f) * z2
        + 3.1415915f;
    return z * (1.0f - z2) * p;
}

__device__ __forceinline__ float clamp01(float x)
{
    x = x > 1.0f ? 1.0f : x;
    return x < 0.0f ? 0.0f : x;
}

__device__ __forceinline__ float smoothstep(float x)
{
    return x * x * (3.0f - 2.0f * x);
}

__device__ __forceinline__ float decay_level(const Voice& v, float i)
{
    float age = v.age + i;
    float since_on = age > 0.0f ? age : 0.0f;
    return v.sustain + (1.0f - v.sustain) * v.decay / (v.decay + since_on);
}

__device__ __forceinline__ float envelope(const Voice& v, float i)
{
    float age = v.age + i;
    float attack = smoothstep(clamp01(age * v.inv_attack));
    float release = 1.0f - smoothstep(clamp01((age - v.release_at) * v.inv_release));
    return attack * decay_level(v, i) * release;
}

__device__ __forceinline__ bool is_steady(const Voice& v, unsigned int frames)
{
    return frames > 0u && v.age * v.inv_attack >= 1.0f
        && v.age + (float)(frames - 1u) <= v.release_at;
}

__device__ __forceinline__ bool is_pure_sine(const Voice& v)
{
    return v.mod_index == 0.0f && v.mod_index_step == 0.0f;
}

__device__ __forceinline__ float oscillator(const Voice& v, float i)
{
    float modulator = sin_turns(v.mod_phase + v.mod_inc * i);
    float index = v.mod_index + v.mod_index_step * i;
    return sin_turns(v.carrier_phase + v.carrier_inc * i + index * modulator);
}

__device__ __forceinline__ float pure_sine(const Voice& v, float i)
{
    return sin_turns(v.carrier_phase + v.carrier_inc * i);
}

// One voice's mono sample at frame i, taking the same shortcut as cpu.rs (the choice is the
// same for every thread, so the branch never diverges; each path equals voice_sample).
__device__ __forceinline__ float voice_sample(const Voice& v, float i, unsigned int frames)
{
    bool steady = is_steady(v, frames);
    float level = steady ? decay_level(v, i) : envelope(v, i);
    float tone = is_pure_sine(v) ? pure_sine(v, i) : oscillator(v, i);
    return level * tone;
}

// Adds one voice's sample to its bus's pair of accumulators (cpu.rs: `mix`).
__device__ __forceinline__ void accumulate(const Voice& v, float s, float* acc)
{
    float l = s * v.gain_l;
    float r = s * v.gain_r;
    // Constant indices, so `acc` stays in registers (a computed one would put it in memory).
    if (v.bus == 0u) {
        acc[0] += l;
        acc[1] += r;
    } else if (v.bus == 1u) {
        acc[2] += l;
        acc[3] += r;
    } else {
        acc[4] += l;
        acc[5] += r;
    }
}

// Frame `blockIdx.x * blockDim.x + threadIdx.x` of one block: voices [begin, end) summed in
// order into six accumulators, written to `out` (bus-major, then channel, then frame, with a
// stride of BLOCK_FRAMES: BusBuffers' layout). Frames at or past `frames` are written as 0.
//
// Four voices' samples are computed side by side before they are added, in order: the four
// chains are independent, so the GPU overlaps their latencies, and the sums (hence the
// rounding) are exactly the CPU's.
__device__ __forceinline__ void mix_frame(const Voice* __restrict__ voices, unsigned int begin,
    unsigned int end, unsigned int frames, float* __restrict__ out)
{
    unsigned int frame = blockIdx.x * blockDim.x + threadIdx.x;
    if (frame >= BLOCK_FRAMES) {
        return;
    }
    float acc[6] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    if (frame < frames) {
        float i = (float)frame;
        unsigned int k = begin;
        for (; k + 4u <= end; k += 4u) {
            const Voice v0 = voices[k];
            const Voice v1 = voices[k + 1u];
            const Voice v2 = voices[k + 2u];
            const Voice v3 = voices[k + 3u];
            float s0 = voice_sample(v0, i, frames);
            float s1 = voice_sample(v1, i, frames);
            float s2 = voice_sample(v2, i, frames);
            float s3 = voice_sample(v3, i, frames);
            accumulate(v0, s0, acc);
            accumulate(v1, s1, acc);
            accumulate(v2, s2, acc);
            accumulate(v3, s3, acc);
        }
        for (; k < end; ++k) {
            const Voice v = voices[k];
            accumulate(v, voice_sample(v, i, frames), acc);
        }
    }
    for (unsigned int lane = 0; lane < 6u; ++lane) {
        out[lane * BLOCK_FRAMES + frame] = acc[lane];
    }
}

// One block: `count` voices, `frames` (<= BLOCK_FRAMES) frames, into one BusBuffers image.
// Launch with gridDim.x * blockDim.x >= BLOCK_FRAMES.
extern "C" __global__ void voice_stage_block(const Voice* __restrict__ voices, unsigned int count,
    unsigned int frames, float* __restrict__ out)
{
    mix_frame(voices, 0u, count, frames, out);
}

// A batch of blocks, one per blockIdx.y: block b's voices are [starts[b], starts[b + 1]), and
// its output is the b-th BusBuffers image in `out`. Every block has `frames` frames.
extern "C" __global__ void voice_stage_batch(const Voice* __restrict__ voices,
    const unsigned int* __restrict__ starts, unsigned int frames, float* __restrict__ out)
{
    unsigned int b = blockIdx.y;
    mix_frame(voices, starts[b], starts[b + 1u], frames, out + b * (NUM_BUSES * 2 * BLOCK_FRAMES));
}
