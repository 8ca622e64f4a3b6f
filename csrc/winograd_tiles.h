/*
 * winograd_tiles.h -- the tile grid of the F(4x4, 3x3) Winograd convolutions
 * (conv2d_winograd*.c) and the gathering of one tile's pixels, zeros
 * outside the image.
 *
 * Contract.  A 3x3 stride-1 convolution's output (out_h x out_w per image)
 * is cut into tiles of 4x4 pixels, tiles_h = ceil(out_h / 4) by tiles_w =
 * ceil(out_w / 4) per image; the last row and column of tiles reach past
 * the output when out_h or out_w is no multiple of 4 (their extra pixels
 * are computed from zeros and never written).  Tiles are numbered image by
 * image, row by row: t = (n * tiles_h + th) * tiles_w + tw.  Tile (th, tw)
 * covers output pixels (4 th .. 4 th + 3, 4 tw .. 4 tw + 3) and reads the
 * 6x6 input patch whose top-left pixel is (4 th - pad_top, 4 tw - pad_left).
 *
 * fastnn_winograd_gather copies a size x size window (6 for an input
 * patch, 4 for an output tile's gradient) of an NHWC image, channels
 * [c0, c1), into dst: pixel (i, j) of the window, channel c goes to
 * dst[(i * size + j) * pos_step + (c - c0) * c_step], and pixels outside
 * the image are zeros.  c_step = 1 keeps each pixel's channels contiguous
 * (copied as runs); another c_step interleaves tiles, e.g. c_step = MR puts
 * a tile's channels in one row of a GEMM panel of MR tiles.
 */
#ifndef FASTNN_WINOGRAD_TILES_H
#define FASTNN_WINOGRAD_TILES_H

#include "internal.h"

/* Floats added between the blocks of the 36 positions (conv2d_winograd.c's
 * V and M, the weight gradient's panels): without them the blocks lie a
 * multiple of 4 KB apart (32 tiles x 32 channels, 128 x 32), so a tile's
 * transform, reading or writing one value per position, hits one L1 set
 * and stalls on 4K aliasing (the weight gradient 12-15 % slower on one
 * thread, the demo's forward and dx 1-2 %).  One cache line. */
#define FASTNN_WINOGRAD_POS_PAD 16

typedef struct {
    int64_t tiles_h, tiles_w; /* tiles per image: ceil(out / 4) each way */
    int64_t count;            /* batch * tiles_h * tiles_w                */
} fastnn_winograd_grid;

static inline fastnn_winograd_grid fastnn_winograd_grid_of(int64_t batch, int64_t out_h,
                                                           int64_t out_w)
{
    fastnn_winograd_grid grid = {fastnn_ceil_div(out_h, 4), fastnn_ceil_div(out_w, 4), 0};
    grid.count = batch * grid.tiles_h * grid.tiles_w;
    return grid;
}

/* Tile t of the grid: image n and its first output pixel (oh, ow). */
typedef struct {
    int64_t n, oh, ow;
} fastnn_winograd_tile;

static inline fastnn_winograd_tile fastnn_winograd_tile_at(const fastnn_winograd_grid *grid,
                                                           int64_t t)
{
    int64_t per_image = grid->tiles_h * grid->tiles_w, r = t % per_image;
    return (fastnn_winograd_tile){t / per_image, r / grid->tiles_w * 4,
                                  r % grid->tiles_w * 4};
}

/* dst <- the size x size window of image n of src (h x w pixels of
 * `channels`) whose top-left pixel is (row0, col0), channels [c0, c1),
 * laid out as the header says; zeros outside the image.  FASTNN_INLINE:
 * each SIMD variant of a kernel compiles it for its own instruction set. */
FASTNN_INLINE void fastnn_winograd_gather(const float *src, int64_t h, int64_t w,
                                          int64_t channels, int64_t n, int64_t row0,
                                          int64_t col0, int64_t c0, int64_t c1, int size,
                                          float *restrict dst, int64_t pos_step,
                                          int64_t c_step)
{
    const int64_t len = c1 - c0;
    for (int i = 0; i < size; i++)
        for (int j = 0; j < size; j++) {
            int64_t r = row0 + i, c = col0 + j;
            float *out = dst + (i * size + j) * pos_step;
            if (r < 0 || r >= h || c < 0 || c >= w) {
                for (int64_t k = 0; k < len; k++)
                    out[k * c_step] = 0.0f;
                continue;
            }
            const float *in = src + ((n * h + r) * w + c) * channels + c0;
            if (c_step == 1)
                fastnn_copy_run(out, in, len);
            else
                for (int64_t k = 0; k < len; k++)
                    out[k * c_step] = in[k];
        }
}

#endif
