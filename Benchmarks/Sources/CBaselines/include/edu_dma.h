// A copy through QEMU's edu DMA engine with no framework: the baseline of `uio-bench dma`.
// The uio node opened and locked, BAR0 mapped, a huge page locked at its physical address, Bus
// Master turned on through config space; each copy programs edu's engine twice (RAM -> the
// device's buffer -> RAM) and waits for each completion in read() on the uio fd.
#ifndef EDU_DMA_H
#define EDU_DMA_H
#include <stddef.h>
#include <stdint.h>

// The length of each of the two buffers (source, destination), both in one huge page.
#define EDU_DMA_BUFFER_LENGTH 4096

typedef struct edu_dma_raw edu_dma_raw;

// Opens the device: `uio_path` (/dev/uioN) read-write and locked with flock(LOCK_EX | LOCK_NB),
// the lock swift-uio's claim takes; `config_path` its PCI config space. Returns 0 and *out, or
// -errno: -EWOULDBLOCK when another handle (the framework's) holds the node, -ENOMEM when no
// huge page is free, -ERANGE when the huge page lies beyond edu's 28-bit reach.
int edu_dma_raw_open(const char *uio_path, const char *config_path, edu_dma_raw **out);

// The buffers, EDU_DMA_BUFFER_LENGTH bytes each, and the source's physical address.
uint8_t *edu_dma_raw_source(edu_dma_raw *raw);
uint8_t *edu_dma_raw_destination(edu_dma_raw *raw);
uint64_t edu_dma_raw_physical_address(const edu_dma_raw *raw);

// One copy of `count` bytes (1 to 4095): source -> the start of edu's buffer -> destination.
// Each transfer: write source, destination, count and command (start | raise interrupt, and to
// RAM for the second), block in read() until an interrupt with DMA done in its status came,
// acknowledge it, re-arm INTx. Returns 0 and the nanoseconds from the first register write to
// the second completion handled, or -errno (-ETIMEDOUT when no completion came within 10 s).
int edu_dma_raw_copy(edu_dma_raw *raw, size_t count, uint64_t *elapsed_ns);

// Bus Master off, then every file closed and the memory freed.
void edu_dma_raw_close(edu_dma_raw *raw);

// ---- the data, the same for both sides --------------------------------------------------------
// Fills source[0..<count] with bytes from a generator seeded with `seed`, and all `length` bytes
// of destination with their complement (past `count`, the complement of the generator's next
// bytes), so every byte the copy should write differs before it.
void edu_dma_fill(uint8_t *source, uint8_t *destination, size_t count, size_t length, uint64_t seed);

// The bytes of destination[0..<length] that are not what a correct copy of edu_dma_fill's data
// leaves: the source's bytes below `count`, the untouched fill from there on.
size_t edu_dma_mismatches(const uint8_t *destination, size_t count, size_t length, uint64_t seed);
#endif
