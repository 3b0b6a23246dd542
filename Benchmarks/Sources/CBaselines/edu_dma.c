#define _GNU_SOURCE
#include "edu_dma.h"
#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

// edu's registers (QEMU hw/misc/edu.c), as in Sources/QEMUDevices/Edu.swift.
enum {
    EDU_INTERRUPT_STATUS = 0x24,
    EDU_ACKNOWLEDGE = 0x64,
    EDU_DMA_SOURCE = 0x80,
    EDU_DMA_DESTINATION = 0x88,
    EDU_DMA_COUNT = 0x90,
    EDU_DMA_COMMAND = 0x98,
};
static const uint64_t EDU_DMA_START = 0x1, EDU_DMA_TO_RAM = 0x2, EDU_DMA_RAISE_INTERRUPT = 0x4;
static const uint32_t EDU_INTERRUPT_DMA_DONE = 0x100;
static const uint64_t EDU_DMA_BUFFER_ADDRESS = 0x40000;
static const size_t EDU_DMA_BUFFER_USABLE = 4095;  // a transfer ending at 0x41000 aborts QEMU
static const uint64_t EDU_DMA_REACH = 1ull << 28;  // edu clamps RAM addresses to 28 bits

// The PCI command register: Bus Master Enable, and INTx Disable (uio_pci_generic sets it in its
// handler; userspace clears it to re-arm).
enum { PCI_COMMAND_OFFSET = 4 };
static const uint16_t PCI_COMMAND_BUS_MASTER = 0x4, PCI_COMMAND_INTX_DISABLE = 0x400;

static const size_t HUGE_PAGE = 2u << 20;  // x86_64's default huge page
static const size_t BAR_LENGTH = 4096;     // the registers used here are in the first page
static const int COMPLETION_TIMEOUT_MS = 10000;

struct edu_dma_raw {
    int uio_fd, config_fd;
    volatile uint8_t *bar;
    uint8_t *memory;
    uint64_t physical;
};

static inline void write64(edu_dma_raw *raw, int offset, uint64_t value) {
    *(volatile uint64_t *)(raw->bar + offset) = value;
}
static inline uint32_t read32(edu_dma_raw *raw, int offset) { return *(volatile uint32_t *)(raw->bar + offset); }
static inline void write32(edu_dma_raw *raw, int offset, uint32_t value) {
    *(volatile uint32_t *)(raw->bar + offset) = value;
}

// A 16-bit read-modify-write of the command register: the bits in `set` on, those in `clear` off.
static int update_command(int config_fd, uint16_t set, uint16_t clear) {
    uint16_t command;
    if (pread(config_fd, &command, 2, PCI_COMMAND_OFFSET) != 2) return -errno;
    command = (uint16_t)((command | set) & ~clear);
    return pwrite(config_fd, &command, 2, PCI_COMMAND_OFFSET) == 2 ? 0 : -errno;
}

// The physical address of the byte at `address`, from /proc/self/pagemap (root sees the PFN).
static int physical_address(const void *address, uint64_t *physical) {
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t virtual = (uint64_t)(uintptr_t)address;
    uint64_t entry;
    ssize_t got = pread(fd, &entry, sizeof entry, (off_t)(virtual / page * sizeof entry));
    int saved = errno;
    close(fd);
    if (got != (ssize_t)sizeof entry) return got < 0 ? -saved : -EIO;
    const uint64_t frame = entry & ((1ull << 55) - 1);
    if (!(entry >> 63) || frame == 0) return -EPERM;  // not present, or the PFN hidden (not root)
    *physical = frame * page + virtual % page;
    return 0;
}

int edu_dma_raw_open(const char *uio_path, const char *config_path, edu_dma_raw **out) {
    edu_dma_raw *raw = calloc(1, sizeof *raw);
    if (!raw) return -ENOMEM;
    raw->config_fd = -1;
    raw->bar = MAP_FAILED;
    raw->memory = MAP_FAILED;
    int status = 0;
    if ((raw->uio_fd = open(uio_path, O_RDWR | O_CLOEXEC)) < 0) { status = -errno; goto fail; }
    // Never two drivers on the device: the framework's claim holds this lock while it drives it.
    if (flock(raw->uio_fd, LOCK_EX | LOCK_NB) != 0) { status = -errno; goto fail; }
    if ((raw->config_fd = open(config_path, O_RDWR | O_CLOEXEC)) < 0) { status = -errno; goto fail; }
    void *bar = mmap(NULL, BAR_LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED, raw->uio_fd, 0);
    if (bar == MAP_FAILED) { status = -errno; goto fail; }
    raw->bar = bar;
    void *memory = mmap(NULL, HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (memory == MAP_FAILED) { status = -errno; goto fail; }
    raw->memory = memory;
    // Touched, so the page is there before its address is read (mlock does nothing for a huge page).
    memset(raw->memory, 0, HUGE_PAGE);
    if ((status = physical_address(raw->memory, &raw->physical)) != 0) goto fail;
    if (raw->physical + 2 * EDU_DMA_BUFFER_LENGTH > EDU_DMA_REACH) { status = -ERANGE; goto fail; }
    write32(raw, EDU_ACKNOWLEDGE, read32(raw, EDU_INTERRUPT_STATUS));  // nothing left over
    if ((status = update_command(raw->config_fd, PCI_COMMAND_BUS_MASTER, PCI_COMMAND_INTX_DISABLE)) != 0) goto fail;
    *out = raw;
    return 0;
fail:
    edu_dma_raw_close(raw);
    return status;
}

uint8_t *edu_dma_raw_source(edu_dma_raw *raw) { return raw->memory; }
uint8_t *edu_dma_raw_destination(edu_dma_raw *raw) { return raw->memory + EDU_DMA_BUFFER_LENGTH; }
uint64_t edu_dma_raw_physical_address(const edu_dma_raw *raw) { return raw->physical; }

// Blocks in read() until an interrupt whose status has DMA done; acknowledges and re-arms each.
// The poll before it only bounds the wait: a lost completion ends the run instead of hanging it.
static int wait_for_dma_done(edu_dma_raw *raw) {
    for (;;) {
        struct pollfd fd = {.fd = raw->uio_fd, .events = POLLIN};
        int ready;
        do { ready = poll(&fd, 1, COMPLETION_TIMEOUT_MS); } while (ready < 0 && errno == EINTR);
        if (ready < 0) return -errno;
        if (ready == 0) return -ETIMEDOUT;
        uint32_t count;
        if (read(raw->uio_fd, &count, sizeof count) != (ssize_t)sizeof count) return -errno;
        uint32_t status = read32(raw, EDU_INTERRUPT_STATUS);
        write32(raw, EDU_ACKNOWLEDGE, status);
        int rearmed = update_command(raw->config_fd, 0, PCI_COMMAND_INTX_DISABLE);
        if (rearmed != 0) return rearmed;
        if (status & EDU_INTERRUPT_DMA_DONE) return 0;
    }
}

static int transfer(edu_dma_raw *raw, uint64_t ram, size_t count, int to_ram) {
    write64(raw, EDU_DMA_SOURCE, to_ram ? EDU_DMA_BUFFER_ADDRESS : ram);
    write64(raw, EDU_DMA_DESTINATION, to_ram ? ram : EDU_DMA_BUFFER_ADDRESS);
    write64(raw, EDU_DMA_COUNT, count);
    write64(raw, EDU_DMA_COMMAND, EDU_DMA_START | EDU_DMA_RAISE_INTERRUPT | (to_ram ? EDU_DMA_TO_RAM : 0));
    return wait_for_dma_done(raw);
}

int edu_dma_raw_copy(edu_dma_raw *raw, size_t count, uint64_t *elapsed_ns) {
    if (count == 0 || count > EDU_DMA_BUFFER_USABLE) return -EINVAL;
    uint64_t start = baseline_now_ns();
    int status = transfer(raw, raw->physical, count, 0);
    if (status == 0) status = transfer(raw, raw->physical + EDU_DMA_BUFFER_LENGTH, count, 1);
    if (status != 0) return status;
    *elapsed_ns = baseline_now_ns() - start;
    return 0;
}

void edu_dma_raw_close(edu_dma_raw *raw) {
    // Bus Master off before the memory goes, so the device can write nowhere freed.
    if (raw->config_fd >= 0) {
        (void)update_command(raw->config_fd, 0, PCI_COMMAND_BUS_MASTER);
        close(raw->config_fd);
    }
    if (raw->bar != MAP_FAILED) munmap((void *)raw->bar, BAR_LENGTH);
    if (raw->uio_fd >= 0) close(raw->uio_fd);
    if (raw->memory != MAP_FAILED) munmap(raw->memory, HUGE_PAGE);
    free(raw);
}

// splitmix64: the data of a copy depends only on its seed.
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint8_t expected_byte(uint64_t *state, size_t index, size_t count) {
    uint8_t byte = (uint8_t)next_random(state);
    return index < count ? byte : (uint8_t)~byte;
}

void edu_dma_fill(uint8_t *source, uint8_t *destination, size_t count, size_t length, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < length; i++) {
        uint8_t byte = (uint8_t)next_random(&state);
        if (i < count) source[i] = byte;
        destination[i] = (uint8_t)~byte;
    }
}

size_t edu_dma_mismatches(const uint8_t *destination, size_t count, size_t length, uint64_t seed) {
    uint64_t state = seed;
    size_t mismatches = 0;
    for (size_t i = 0; i < length; i++) mismatches += destination[i] != expected_byte(&state, i, count);
    return mismatches;
}
