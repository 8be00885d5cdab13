/*
 * chart - the dashboard's charts: a grid of numbers from a query, drawn
 * as inline SVG, with the same numbers as an HTML table under it. See
 * report.h.
 *
 * Every label comes from the database (user names, rules: untrusted) and
 * is written through chart_put_text(), which escapes & < > " ' and shows
 * control characters as \xNN. Values are written as PostgreSQL printed
 * them (the exact text the report prints), in data-value attributes of
 * the SVG shapes and in the table cells; only the geometry uses their
 * double value.
 *
 * Colours: the Okabe-Ito palette (told apart with the common colour
 * vision deficiencies), each series also named in a legend and in each
 * shape's <title>; text is #222 on white.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

#define CH_W		760	/* the SVG's width */
#define CH_H		240	/* a stacked chart's plot height */
#define CH_LEFT		56
#define CH_TOP		12
#define CH_BAR_H	18	/* a horizontal bar */
#define CH_LABEL_W	220	/* a horizontal bar's label column */
#define CH_MAX_XLABELS	12

static const char *const ch_colours[] = {
	"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
	"#F0E442", "#000000",
};
#define CH_NCOLOURS (sizeof(ch_colours) / sizeof(*ch_colours))

void chart_put_text(FILE *fp, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(fp, "\\x%02x", *p);
			else
				fputc(*p, fp);
		}
	}
}

/* ---- the grid ------------------------------------------------------------ */

static size_t ch_find(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return n;
}

struct ch_order {
	char *name;
	long key;
	size_t first;		/* order of first appearance, for ties */
};

static int ch_order_cmp(const void *a, const void *b)
{
	const struct ch_order *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

bool chart_grid_load(struct chart_grid *g, const PGresult *r)
{
	int rows = PQntuples(r);
	struct ch_order *ord;
	size_t xi, si;

	memset(g, 0, sizeof(*g));
	if (PQnfields(r) != 4)
		return false;
	g->x = xcalloc((size_t) rows + 1, sizeof(*g->x));
	g->s = xcalloc((size_t) rows + 1, sizeof(*g->s));
	ord = xcalloc((size_t) rows + 1, sizeof(*ord));
	for (int i = 0; i < rows; i++) {
		const char *x = PQgetvalue(r, i, 0), *s = PQgetvalue(r, i, 1);

		if (ch_find(g->x, g->nx, x) == g->nx)
			g->x[g->nx++] = xstrdup(x);
		if (PQgetisnull(r, i, 1) ||
		    ch_find(g->s, g->ns, s) != g->ns)
			continue;
		ord[g->ns].name = g->s[g->ns] = xstrdup(s);
		ord[g->ns].key = PQgetisnull(r, i, 2) ? 0 :
				 strtol(PQgetvalue(r, i, 2), NULL, 10);
		ord[g->ns].first = g->ns;
		g->ns++;
	}
	qsort(ord, g->ns, sizeof(*ord), ch_order_cmp);
	for (size_t i = 0; i < g->ns; i++)
		g->s[i] = ord[i].name;
	free(ord);
	if (g->ns == 0 && rows > 0 && !PQgetisnull(r, 0, 3)) {
		g->s[0] = xstrdup("");	/* one unnamed series (a bar chart) */
		g->ns = 1;
	}
	g->colour = xcalloc(g->ns ? g->ns : 1, sizeof(*g->colour));
	for (size_t i = 0; i < g->ns; i++)
		g->colour[i] = i;
	g->text = xcalloc(g->nx * (g->ns ? g->ns : 1), sizeof(*g->text));
	g->v = xcalloc(g->nx * (g->ns ? g->ns : 1), sizeof(*g->v));
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(r, i, 3))
			continue;
		xi = ch_find(g->x, g->nx, PQgetvalue(r, i, 0));
		si = PQgetisnull(r, i, 1) ? 0 :
		     ch_find(g->s, g->ns, PQgetvalue(r, i, 1));
		if (si >= g->ns)
			continue;
		free(g->text[xi * g->ns + si]);
		g->text[xi * g->ns + si] = xstrdup(PQgetvalue(r, i, 3));
		g->v[xi * g->ns + si] = strtod(PQgetvalue(r, i, 3), NULL);
	}
	return true;
}

void chart_grid_free(struct chart_grid *g)
{
	for (size_t i = 0; i < g->nx * g->ns; i++)
		free(g->text[i]);
	for (size_t i = 0; i < g->nx; i++)
		free(g->x[i]);
	for (size_t i = 0; i < g->ns; i++)
		free(g->s[i]);
	free(g->text);
	free(g->v);
	free(g->colour);
	free(g->x);
	free(g->s);
	memset(g, 0, sizeof(*g));
}

/* ---- drawing ------------------------------------------------------------- */

/* A round axis maximum >= max: 1, 2 or 5 times a power of ten. */
static double ch_nice(double max)
{
	double p;

	if (max <= 0)
		return 1;
	p = pow(10, floor(log10(max)));
	if (max <= p)
		return p;
	if (max <= 2 * p)
		return 2 * p;
	if (max <= 5 * p)
		return 5 * p;
	return 10 * p;
}

static void ch_svg_open(FILE *fp, const char *id, const char *title,
			int height)
{
	fprintf(fp, "<svg id=\"%s-chart\" data-chart=\"%s\" "
		"xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
		"width=\"100%%\" role=\"img\" aria-labelledby=\"%s-title\">\n"
		"<title id=\"%s-title\">", id, id, CH_W, height, id, id);
	chart_put_text(fp, title);
	fputs("</title>\n", fp);
}

static void ch_legend(FILE *fp, const struct chart_grid *g, int y,
		      const char *series_name)
{
	int x = CH_LEFT;

	for (size_t s = 0; s < g->ns; s++) {
		size_t len = strlen(g->s[s]) + strlen(series_name) + 1;

		fprintf(fp, "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" "
			"width=\"12\" height=\"12\" fill=\"%s\"/>"
			"<text x=\"%d\" y=\"%d\">", x, y,
			ch_colours[g->colour[s] % CH_NCOLOURS], x + 16, y + 11);
		fprintf(fp, "%s%s", series_name, *series_name ? " " : "");
		chart_put_text(fp, g->s[s]);
		fputs("</text></g>\n", fp);
		x += 28 + (int) (len > 30 ? 30 : len) * 7;
		if (x > CH_W - 120 && s + 1 < g->ns) {
			x = CH_LEFT;
			y += 18;
		}
	}
}

/* Stacked columns: one per x, one segment per series. share: the
 * values are fractions (axis 0..100 %). */
void chart_stacked(FILE *fp, const char *id, const char *title,
		   const struct chart_grid *g, const char *series_name,
		   bool share)
{
	double max = 0, top, bw, x0, y;
	int height = CH_TOP + CH_H + 34 + 18 * (int) (1 + g->ns / 6);
	size_t every, longest = 1, fit;

	for (size_t x = 0; x < g->nx; x++) {
		double sum = 0;

		for (size_t s = 0; s < g->ns; s++)
			sum += g->v[x * g->ns + s];
		max = sum > max ? sum : max;
	}
	for (size_t x = 0; x < g->nx; x++)
		longest = strlen(g->x[x]) > longest ? strlen(g->x[x]) : longest;
	/* as many x labels as fit at about 6.5 px a character */
	fit = (size_t) (CH_W - 4 - CH_LEFT) / (longest * 13 / 2 + 12);
	fit = fit < 1 ? 1 : fit > CH_MAX_XLABELS ? CH_MAX_XLABELS : fit;
	every = (g->nx + fit - 1) / fit;
	every = every ? every : 1;
	top = share ? 1 : ch_nice(max);
	ch_svg_open(fp, id, title, height);
	for (int t = 0; t <= 4; t++) {	/* grid lines and the y axis */
		y = CH_TOP + CH_H - CH_H * t / 4.0;
		fprintf(fp, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" "
			"y1=\"%.1f\" y2=\"%.1f\"/><text class=\"axis\" "
			"x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", CH_LEFT,
			CH_W - 4, y, y, CH_LEFT - 4, y + 4);
		if (share)
			fprintf(fp, "%d%%", t * 25);
		else
			fprintf(fp, "%g", top * t / 4);
		fputs("</text>\n", fp);
	}
	bw = g->nx ? (CH_W - 4 - CH_LEFT) / (double) g->nx : 0;
	for (size_t x = 0; x < g->nx; x++) {
		x0 = CH_LEFT + bw * x;
		y = CH_TOP + CH_H;
		for (size_t s = 0; s < g->ns; s++) {
			const char *t = g->text[x * g->ns + s];
			double h = CH_H * g->v[x * g->ns + s] / top;

			if (t == NULL)
				continue;
			y -= h;
			fprintf(fp, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
				"height=\"%.2f\" fill=\"%s\" data-x=\"", x0 + bw * 0.1,
				y, bw * 0.8, h,
				ch_colours[g->colour[s] % CH_NCOLOURS]);
			chart_put_text(fp, g->x[x]);
			fputs("\" data-series=\"", fp);
			chart_put_text(fp, g->s[s]);
			fprintf(fp, "\" data-value=\"%s\"><title>", t);
			chart_put_text(fp, g->x[x]);
			fprintf(fp, ", %s%s", series_name, *series_name ? " " : "");
			chart_put_text(fp, g->s[s]);
			fprintf(fp, ": %s</title></rect>\n", t);
		}
		if (x % every == 0) {
			fprintf(fp, "<text class=\"axis\" x=\"%.2f\" y=\"%d\" "
				"text-anchor=\"middle\">", x0 + bw / 2,
				CH_TOP + CH_H + 14);
			chart_put_text(fp, g->x[x]);
			fputs("</text>\n", fp);
		}
	}
	ch_legend(fp, g, CH_TOP + CH_H + 24, series_name);
	fputs("</svg>\n", fp);
}

/* Horizontal bars, one per x, of the first series. */
void chart_bars(FILE *fp, const char *id, const char *title,
		const struct chart_grid *g)
{
	double max = 0, top, w;
	int height = CH_TOP + (int) g->nx * (CH_BAR_H + 6) + 8;
	int plot = CH_W - CH_LABEL_W - 60;

	for (size_t x = 0; x < g->nx; x++)
		max = g->v[x * g->ns] > max ? g->v[x * g->ns] : max;
	top = ch_nice(max);
	ch_svg_open(fp, id, title, height);
	for (size_t x = 0; x < g->nx && g->ns > 0; x++) {
		int y = CH_TOP + (int) x * (CH_BAR_H + 6);
		const char *t = g->text[x * g->ns];

		if (t == NULL)
			continue;
		w = plot * g->v[x * g->ns] / top;
		fprintf(fp, "<text class=\"label\" x=\"%d\" y=\"%d\" "
			"text-anchor=\"end\">", CH_LABEL_W - 6, y + 13);
		chart_put_text(fp, g->x[x]);
		fprintf(fp, "</text><rect x=\"%d\" y=\"%d\" width=\"%.2f\" "
			"height=\"%d\" fill=\"%s\" data-x=\"", CH_LABEL_W, y,
			w, CH_BAR_H, ch_colours[0]);
		chart_put_text(fp, g->x[x]);
		fprintf(fp, "\" data-value=\"%s\"><title>", t);
		chart_put_text(fp, g->x[x]);
		fprintf(fp, ": %s</title></rect><text class=\"value\" "
			"x=\"%.2f\" y=\"%d\">%s</text>\n", t,
			CH_LABEL_W + w + 4, y + 13, t);
	}
	fputs("</svg>\n", fp);
}

/* ---- the tables ---------------------------------------------------------- */

/* A row per x that has at least one value (an empty time bucket is in
 * the chart's axis, not in the table). */
void chart_table(FILE *fp, const char *id, const char *caption,
		 const struct chart_grid *g, const char *x_name,
		 const char *series_name, const char *value_name)
{
	fprintf(fp, "<table class=\"data\" id=\"%s-data\" data-table=\"%s\">"
		"\n<caption>", id, id);
	chart_put_text(fp, caption);
	fputs("</caption>\n<thead><tr><th scope=\"col\">", fp);
	chart_put_text(fp, x_name);
	fputs("</th>", fp);
	for (size_t s = 0; s < g->ns; s++) {
		fputs("<th scope=\"col\">", fp);
		if (*g->s[s] == '\0') {
			chart_put_text(fp, value_name);
		} else {
			fprintf(fp, "%s%s", series_name, *series_name ? " " : "");
			chart_put_text(fp, g->s[s]);
		}
		fputs("</th>", fp);
	}
	fputs("</tr></thead>\n<tbody>\n", fp);
	for (size_t x = 0; x < g->nx; x++) {
		size_t k;

		for (k = 0; k < g->ns && g->text[x * g->ns + k] == NULL; k++)
			;
		if (k == g->ns)
			continue;	/* nothing at all in this bucket */
		fputs("<tr><th scope=\"row\">", fp);
		chart_put_text(fp, g->x[x]);
		fputs("</th>", fp);
		for (size_t s = 0; s < g->ns; s++) {
			const char *t = g->text[x * g->ns + s];

			fputs("<td data-x=\"", fp);
			chart_put_text(fp, g->x[x]);
			fputs("\" data-series=\"", fp);
			chart_put_text(fp, g->s[s]);
			fprintf(fp, "\" data-value=\"%s\">%s</td>", t ? t : "0",
				t ? t : "0");
		}
		fputs("</tr>\n", fp);
	}
	if (g->nx == 0)
		fprintf(fp, "<tr><td colspan=\"%zu\">nothing in the window"
			"</td></tr>\n", g->ns + 1);
	fputs("</tbody>\n</table>\n", fp);
}
