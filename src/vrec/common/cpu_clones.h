// VREC_CPU_CLONES: compile a hot kernel for AVX-512, AVX2 and baseline x86-64 and pick the clone
// at load time (GCC's target_clones). Write the kernel with GCC's vector extension
// (`typedef float V __attribute__((vector_size(64)))`): each clone then runs the same lane
// operations in one, two or four registers, so the clones agree bit for bit.
#pragma once

// target_clones dispatches through an ifunc resolver that the dynamic loader runs before any
// sanitizer runtime starts; ThreadSanitizer instruments the resolver and crashes there. Its
// builds get the baseline code only.
#if defined(__SANITIZE_THREAD__)
#define VREC_CPU_CLONES
#else
#define VREC_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
