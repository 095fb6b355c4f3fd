/* curves.c - the loss curves of curves.h: CSV rows and a 760 x 440 SVG plot
 * (train loss as a line, held-out loss as a line with dots, axes ticked at
 * 1-2-5 steps, a legend). */
#include "adapt/curves.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Opens path.tmp for writing. */
static FILE *open_tmp(const char *path, char tmp[], size_t tmp_size, char err[ED_ERR_LEN])
{
    if ((size_t)snprintf(tmp, tmp_size, "%s.tmp", path) >= tmp_size) {
        ed_errf(err, ED_EIO, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        ed_errf(err, ED_EIO, "cannot write %s: %s", tmp, strerror(errno));
    return f;
}

static int close_rename(FILE *f, const char *tmp, const char *path, char err[ED_ERR_LEN])
{
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        remove(tmp);
        return ed_errf(err, ED_EIO, "cannot write %s", tmp);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return ed_errf(err, ED_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    return 0;
}

int ed_curves_write_csv(const char *path, const ed_run_point_t *points, int n, char err[ED_ERR_LEN])
{
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f)
        return ED_EIO;
    fprintf(f, "step,tokens,elapsed_s,train_loss,heldout_loss\n");
    for (int i = 0; i < n; i++) {
        const ed_run_point_t *p = &points[i];
        fprintf(f, "%lld,%lld,%.3f,%.17g,", (long long)p->step, (long long)p->tokens, p->elapsed_s, p->train_loss);
        if (!isnan(p->heldout_loss))
            fprintf(f, "%.17g", p->heldout_loss);
        fputc('\n', f);
    }
    return close_rename(f, tmp, path, err);
}

/* A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `want` ticks over span. */
static double tick_step(double span, int want)
{
    if (!(span > 0))
        return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

enum { WIDTH = 760, HEIGHT = 440, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 60 };

typedef struct {
    double x0, x1, y0, y1;
} frame_t;

static double px(const frame_t *fr, double x)
{
    return LEFT + (x - fr->x0) / (fr->x1 - fr->x0) * (WIDTH - LEFT - RIGHT);
}
static double py(const frame_t *fr, double y)
{
    return HEIGHT - BOTTOM - (y - fr->y0) / (fr->y1 - fr->y0) * (HEIGHT - TOP - BOTTOM);
}

int ed_curves_write_svg(const char *path, const ed_run_point_t *points, int n, const char *title,
                        char err[ED_ERR_LEN])
{
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f)
        return ED_EIO;
    /* the frame: steps 0 .. last, losses from the lowest to the highest seen */
    frame_t fr = {0, 1, INFINITY, -INFINITY};
    for (int i = 0; i < n; i++) {
        double v[2] = {points[i].train_loss, points[i].heldout_loss};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) {
                fr.y0 = v[k] < fr.y0 ? v[k] : fr.y0;
                fr.y1 = v[k] > fr.y1 ? v[k] : fr.y1;
            }
        if ((double)points[i].step > fr.x1)
            fr.x1 = (double)points[i].step;
    }
    if (!(fr.y0 <= fr.y1))
        fr.y0 = 0, fr.y1 = 1;
    double ys = tick_step(fr.y1 - fr.y0 > 0 ? fr.y1 - fr.y0 : 1, 6), xs = tick_step(fr.x1 - fr.x0, 8);
    fr.y0 = floor(fr.y0 / ys) * ys;
    fr.y1 = ceil(fr.y1 / ys) * ys;
    if (fr.y1 <= fr.y0)
        fr.y1 = fr.y0 + ys;
    fr.x1 = ceil(fr.x1 / xs) * xs;

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", WIDTH / 2);
    xml_text(f, title ? title : "loss");
    fprintf(f, "</text>\n");
    /* grid, ticks and their labels */
    fprintf(f, "<g stroke=\"#e4e4e4\">\n");
    for (double y = fr.y0; y <= fr.y1 + ys / 2; y += ys)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", LEFT, py(&fr, y), WIDTH - RIGHT,
                py(&fr, y));
    for (double x = fr.x0; x <= fr.x1 + xs / 2; x += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", px(&fr, x), TOP, px(&fr, x),
                HEIGHT - BOTTOM);
    fprintf(f, "</g>\n<g fill=\"#333\">\n");
    for (double y = fr.y0; y <= fr.y1 + ys / 2; y += ys)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, py(&fr, y) + 4,
                fabs(y) < ys * 1e-9 ? 0.0 : y);
    for (double x = fr.x0; x <= fr.x1 + xs / 2; x += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px(&fr, x), HEIGHT - BOTTOM + 18,
                x);
    fprintf(f, "</g>\n");
    /* axes and their labels */
    fprintf(f,
            "<g stroke=\"#333\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
            LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, LEFT, TOP, LEFT, HEIGHT - BOTTOM);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">optimizer step</text>\n",
            LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 18);
    fprintf(f, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">loss (nats per token)</text>\n",
            TOP + (HEIGHT - TOP - BOTTOM) / 2);
    /* the curves */
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < n; i++)
        if (isfinite(points[i].train_loss))
            fprintf(f, "%.1f,%.1f ", px(&fr, (double)points[i].step), py(&fr, points[i].train_loss));
    fprintf(f, "\"/>\n<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < n; i++)
        if (isfinite(points[i].heldout_loss))
            fprintf(f, "%.1f,%.1f ", px(&fr, (double)points[i].step), py(&fr, points[i].heldout_loss));
    fprintf(f, "\"/>\n<g fill=\"#ff7f0e\">\n");
    for (int i = 0; i < n; i++)
        if (isfinite(points[i].heldout_loss))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n", px(&fr, (double)points[i].step),
                    py(&fr, points[i].heldout_loss));
    fprintf(f, "</g>\n");
    /* the legend */
    int lx = WIDTH - RIGHT - 150, ly = TOP + 10;
    fprintf(f,
            "<g><rect x=\"%d\" y=\"%d\" width=\"140\" height=\"44\" fill=\"white\" stroke=\"#ccc\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>"
            "<text x=\"%d\" y=\"%d\">train loss</text>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>"
            "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#ff7f0e\"/>"
            "<text x=\"%d\" y=\"%d\">held-out loss</text></g>\n",
            lx, ly, lx + 8, ly + 14, lx + 32, ly + 14, lx + 40, ly + 18, lx + 8, ly + 32, lx + 32, ly + 32, lx + 20,
            ly + 32, lx + 40, ly + 36);
    fprintf(f, "</svg>\n");
    return close_rename(f, tmp, path, err);
}
