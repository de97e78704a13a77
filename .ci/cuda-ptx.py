#!/usr/bin/env python3
"""Compiles src/synth/cuda/voice_stage.cu to PTX with NVRTC (through ctypes, no toolkit).

usage: cuda-ptx.py LIBNVRTC SOURCE.cu OUT.ptx

The options here are the kernel's contract: compute_70 (Volta and every later GPU JIT-compiles
it) and --fmad=false so the GPU rounds every operation exactly as the Rust CPU stage does.
"""
import ctypes
import sys

OPTIONS = [b"--gpu-architecture=compute_70", b"--fmad=false"]


def check(lib, rc, what, prog=None):
    if rc == 0:
        return
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    message = lib.nvrtcGetErrorString(rc).decode()
    log = ""
    if prog is not None:
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, buf)
        log = buf.value.decode(errors="replace")
    sys.exit(f"{what}: {message}\n{log}")


def main():
    libpath, source_path, out_path = sys.argv[1:4]
    lib = ctypes.CDLL(libpath)
    with open(source_path, "rb") as f:
        source = f.read()
    prog = ctypes.c_void_p()
    check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source, b"voice_stage.cu", 0, None, None),
          "nvrtcCreateProgram")
    options = (ctypes.c_char_p * len(OPTIONS))(*OPTIONS)
    check(lib, lib.nvrtcCompileProgram(prog, len(OPTIONS), options), "nvrtcCompileProgram", prog)
    size = ctypes.c_size_t()
    check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
    buf = ctypes.create_string_buffer(size.value)
    check(lib, lib.nvrtcGetPTX(prog, buf), "nvrtcGetPTX")
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    with open(out_path, "wb") as f:
        f.write(buf.value)  # without the trailing NUL


if __name__ == "__main__":
    main()
