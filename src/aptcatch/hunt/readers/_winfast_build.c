/*
 * _winfast_build.c: build, the last step of the _winfast batch (see _winfast.c): the plans the Python
 * side computed, read and checked, then every field name's array, the normalised columns (the first
 * usable source of each), the hashes of the Sysmon hash lists and the originals, as Arrow buffers.
 */
#include "_winfast.h"

/* ------------------------------------------------------------------ the type: build */

typedef struct {
    uint32_t *table;
    uint32_t ntable;
    int64_t *src;      /* >= 0: column position; < 0: -1 - constant index */
    size_t *src_start; /* per normalised column, into src (ncolumns + 1 entries) */
} Plan;

typedef struct {
    Plan *plans;
    size_t nplans, nnorm;
    Buf ctext; /* the constants' texts */
    size_t *coff;
    uint32_t *clen;
    size_t nconsts, capconsts, capclen;
} Plans;

static void plans_free(Plans *ps) {
    for (size_t i = 0; i < ps->nplans; i++) {
        PyMem_RawFree(ps->plans[i].table);
        PyMem_RawFree(ps->plans[i].src);
        PyMem_RawFree(ps->plans[i].src_start);
    }
    PyMem_RawFree(ps->plans);
    PyMem_RawFree(ps->ctext.p);
    PyMem_RawFree(ps->coff);
    PyMem_RawFree(ps->clen);
}

static int to_u32_list(PyObject *seq, uint32_t **out, uint32_t *n) {
    PyObject *f = PySequence_Fast(seq, "expected a sequence of ints");
    if (f == NULL) return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(f);
    if ((size_t)len >= UINT32_MAX) {
        Py_DECREF(f);
        PyErr_SetString(PyExc_OverflowError, "too many items");
        return -1;
    }
    *out = PyMem_RawMalloc(((size_t)len + 1) * sizeof(uint32_t));
    if (*out == NULL) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(f, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(f);
            return -1;
        }
        if (v < 0 || (unsigned long)v >= UINT32_MAX) {
            Py_DECREF(f);
            PyErr_SetString(PyExc_ValueError, "position out of range");
            return -1;
        }
        (*out)[i] = (uint32_t)v;
    }
    *n = (uint32_t)len;
    Py_DECREF(f);
    return 0;
}

/* one source: an int position or a str constant */
static int load_source(Plans *ps, PyObject *s, int64_t *out) {
    if (PyUnicode_Check(s)) {
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(s, &len);
        if (u == NULL) return -1;
        if ((size_t)len > MAX_LEN) {
            PyErr_SetString(PyExc_ValueError, "constant too long");
            return -1;
        }
        if (reserve((void **)&ps->coff, &ps->capconsts, ps->nconsts + 1, sizeof(size_t)) < 0 ||
            reserve((void **)&ps->clen, &ps->capclen, ps->nconsts + 1, sizeof(uint32_t)) < 0)
            return -1;
        ps->coff[ps->nconsts] = ps->ctext.len;
        ps->clen[ps->nconsts] = (uint32_t)len;
        if (buf_put(&ps->ctext, u, (size_t)len) < 0) return -1;
        *out = -1 - (int64_t)ps->nconsts++;
        return 0;
    }
    long pos = PyLong_AsLong(s);
    if (pos == -1 && PyErr_Occurred()) return -1;
    if (pos < 0 || (unsigned long)pos >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "position out of range");
        return -1;
    }
    *out = pos;
    return 0;
}

/* plans: [(table positions, [sources per normalised column: int position or str constant])] */
static int load_plans(PyObject *plans, Plans *ps) {
    PyObject *f = PySequence_Fast(plans, "plans must be a sequence");
    if (f == NULL) return -1;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(f);
    ps->plans = PyMem_RawCalloc((size_t)np + 1, sizeof(Plan));
    if (ps->plans == NULL) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        Plan *p = &ps->plans[i];
        ps->nplans = (size_t)i + 1;
        PyObject *table, *norm, *nf = NULL;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(f, i), "OO:plan", &table, &norm)) goto fail;
        if (to_u32_list(table, &p->table, &p->ntable) < 0) goto fail;
        if ((nf = PySequence_Fast(norm, "norm must be a sequence")) == NULL) goto fail;
        size_t nn = (size_t)PySequence_Fast_GET_SIZE(nf), nsrc = 0, capsrc = 0;
        if (i == 0) ps->nnorm = nn;
        if (nn != ps->nnorm) {
            PyErr_SetString(PyExc_ValueError, "plans with different normalised columns");
            goto fail_nf;
        }
        if ((p->src_start = PyMem_RawMalloc((nn + 1) * sizeof(size_t))) == NULL) {
            PyErr_NoMemory();
            goto fail_nf;
        }
        for (size_t c = 0; c < nn; c++) {
            p->src_start[c] = nsrc;
            PyObject *sf = PySequence_Fast(PySequence_Fast_GET_ITEM(nf, c), "sources must be a sequence");
            if (sf == NULL) goto fail_nf;
            for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(sf); k++) {
                int64_t v;
                if (load_source(ps, PySequence_Fast_GET_ITEM(sf, k), &v) < 0 ||
                    reserve((void **)&p->src, &capsrc, nsrc + 1, sizeof(int64_t)) < 0) {
                    Py_DECREF(sf);
                    goto fail_nf;
                }
                p->src[nsrc++] = v;
            }
            Py_DECREF(sf);
        }
        p->src_start[nn] = nsrc;
        Py_DECREF(nf);
        continue;
    fail_nf:
        Py_DECREF(nf);
        goto fail;
    }
    Py_DECREF(f);
    return 0;
fail:
    Py_DECREF(f);
    return -1;
}

static inline Ref cell_ref(const BatchObject *B, const Event *e, Cell c) {
    unsigned kind = CELL_KIND(c);
    if (kind == K_NONE || kind == K_OTHER_NULL) return (Ref){NULL, 0, 0};
    return (Ref){cell_ptr(B, e, c), CELL_LEN(c), 1};
}

static inline int is_empty_text(Ref r) {
    return r.len == 0 || (r.len == 1 && r.p[0] == '-') || (r.len == 7 && memcmp(r.p, "(empty)", 7) == 0);
}

/* normalised column c of an event: winsegments._first over its plan's sources (one source is taken as
   it is; of several, the first that is a value and, when a string, not '', '-' or '(empty)') */
static Ref first_source(const BatchObject *B, const Plans *ps, const Plan *p, const Event *e, size_t c) {
    size_t s0 = p->src_start[c], s1 = p->src_start[c + 1];
    const Cell *row = B->cells + e->cells;
    for (size_t k = s0; k < s1; k++) {
        int64_t src = p->src[k];
        Ref r;
        unsigned kind;
        if (src >= 0) {
            kind = CELL_KIND(row[src]);
            r = cell_ref(B, e, row[src]);
        } else {
            kind = K_STR;
            r = (Ref){ps->ctext.p + ps->coff[-1 - src], ps->clen[-1 - src], 1};
        }
        if (s1 - s0 == 1) return r;
        if (kind == K_NONE || (kind == K_STR && is_empty_text(r))) continue;
        return r;
    }
    return (Ref){NULL, 0, 0};
}

/* c equals a (a lower-case ASCII letter or another ASCII character) but for the case of a letter */
static inline int same_ci(char c, char a) { return c == a || (a >= 'a' && a <= 'z' && c == a - 32); }

static inline int re2_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

/*
 * The values of the `nalgos` names in a Sysmon hash list, as winsegments.normal_table extracts each with
 * RE2, (?i)(?:^|,)\s*ALGO\s*=\s*(?P<d>[^,]*[^,\s]), for an ASCII text (RE2's \s is [\t\n\f\r ]): the
 * leftmost match starts at the text's start or at a comma; d is the rest of that comma-free run after
 * '=' and blanks, less its trailing blanks, and must not be empty. out[a * stride] gets algo a's value.
 */
static void find_hashes(Ref h, const char *const *algos, const size_t *alens, size_t nalgos, Ref *out,
                        size_t stride) {
    const char *p = h.p;
    size_t n = h.len, left = nalgos;
    for (size_t a = 0; a < nalgos; a++) out[a * stride] = (Ref){NULL, 0, 0};
    for (size_t c = 0; c <= n && left;) {
        size_t i0 = c;
        while (i0 < n && re2_space(p[i0])) i0++;
        for (size_t a = 0; a < nalgos; a++) {
            if (out[a * stride].valid) continue;
            size_t k = 0, i = i0;
            while (k < alens[a] && i + k < n && same_ci(p[i + k], algos[a][k])) k++;
            if (k < alens[a]) continue;
            i += k;
            while (i < n && re2_space(p[i])) i++;
            if (i >= n || p[i] != '=') continue;
            i++;
            while (i < n && re2_space(p[i])) i++;
            size_t end = i;
            while (end < n && p[end] != ',') end++;
            while (end > i && re2_space(p[end - 1])) end--;
            if (end > i) {
                out[a * stride] = (Ref){p + i, (uint32_t)(end - i), 1};
                left--;
            }
        }
        while (c < n && p[c] != ',') c++; /* the next start: after the next comma */
        c++;
    }
}

/*
 * build(plans, group_plan, group_shape, shapes, n_names, hash_column, algos) with plans as load_plans
 * reads them, group_plan / group_shape per group in groups() order, shapes = per shape its field name
 * ids, hash_column the normalised column holding the Sysmon hash lists (-1: none) and algos the names
 * to extract from them (lower case). Returns (name arrays, per shape the offset of each column in its
 * name's array, per shape its @row values as int64 bytes, normalised arrays in batch row order,
 * originals (n, offsets, data), per algo its array or None when a hash list is not ASCII).
 * Once only: the originals' memory is handed over.
 */
PyObject *wf_Batch_build(BatchObject *B, PyObject *args) {
    PyObject *plans_arg, *gp_arg, *gs_arg, *shapes_arg, *algos_arg;
    Py_ssize_t n_names, hash_column;
    if (!PyArg_ParseTuple(args, "OOOOnnO:build", &plans_arg, &gp_arg, &gs_arg, &shapes_arg, &n_names, &hash_column,
                          &algos_arg))
        return NULL;
    if (B->cell_fn == NULL || B->built) {
        PyErr_SetString(PyExc_RuntimeError, "build: batch not initialised or already built");
        return NULL;
    }
    if (wf_ensure_order(B) < 0) return NULL;
    Plans ps;
    memset(&ps, 0, sizeof ps);
    PyObject *out = NULL, *names_out = NULL, *offsets_out = NULL, *rows_out = NULL, *norm_out = NULL;
    PyObject *orig_out = NULL, *sf = NULL, *hash_out = NULL;
    uint32_t *gplan = NULL, *gshape = NULL, ngp = 0, ngs = 0, *gplan_by_id = NULL;
    uint32_t **shape_names = NULL, *shape_nn = NULL;
    int64_t *gev = NULL, *byrow = NULL;
    Ref *refs = NULL, *hrefs = NULL;
    size_t *soff = NULL, *soff_start = NULL;
    size_t *gstart = NULL, *name_rows = NULL, *name_fill = NULL, *name_start = NULL, *shape_first = NULL;
    size_t *shape_groups = NULL, *file_base = NULL;
    Py_ssize_t nshapes = 0;
    size_t total = B->nevents;

    if (load_plans(plans_arg, &ps) < 0) goto done;
    if (to_u32_list(gp_arg, &gplan, &ngp) < 0 || to_u32_list(gs_arg, &gshape, &ngs) < 0) goto done;
    if (ngp != B->ngroups || ngs != B->ngroups || n_names < 0) {
        PyErr_SetString(PyExc_ValueError, "one plan and one shape per group");
        goto done;
    }
    if ((sf = PySequence_Fast(shapes_arg, "shapes must be a sequence")) == NULL) goto done;
    nshapes = PySequence_Fast_GET_SIZE(sf);
    shape_names = PyMem_RawCalloc((size_t)nshapes + 1, sizeof(uint32_t *));
    shape_nn = PyMem_RawCalloc((size_t)nshapes + 1, sizeof(uint32_t));
    name_rows = PyMem_RawCalloc((size_t)n_names + 1, sizeof(size_t));
    name_fill = PyMem_RawCalloc((size_t)n_names + 1, sizeof(size_t));
    name_start = PyMem_RawCalloc((size_t)n_names + 2, sizeof(size_t));
    gstart = PyMem_RawMalloc((B->ngroups + 1) * sizeof(size_t));
    gev = PyMem_RawMalloc((total + 1) * sizeof(int64_t));
    byrow = PyMem_RawMalloc((total + 1) * sizeof(int64_t));
    gplan_by_id = PyMem_RawMalloc((B->ngroups + 1) * sizeof(uint32_t));
    file_base = PyMem_RawMalloc((B->nfiles + 1) * sizeof(size_t));
    shape_first = PyMem_RawCalloc((size_t)nshapes + 2, sizeof(size_t));
    shape_groups = PyMem_RawMalloc((B->ngroups + 1) * sizeof(size_t));
    if (!shape_names || !shape_nn || !name_rows || !name_fill || !name_start || !gstart || !gev || !byrow ||
        !gplan_by_id || !file_base || !shape_first || !shape_groups) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        if (to_u32_list(PySequence_Fast_GET_ITEM(sf, s), &shape_names[s], &shape_nn[s]) < 0) goto done;
        for (uint32_t j = 0; j < shape_nn[s]; j++)
            if (shape_names[s][j] >= (size_t)n_names) {
                PyErr_SetString(PyExc_ValueError, "name id out of range");
                goto done;
            }
    }
    /* every group against its plan and shape; its events in order (gev) */
    size_t at = 0;
    for (size_t i = 0; i < B->ngroups; i++) {
        const Group *g = &B->groups[B->order[i]];
        if (gplan[i] >= ps.nplans || gshape[i] >= (size_t)nshapes) {
            PyErr_SetString(PyExc_ValueError, "plan or shape id out of range");
            goto done;
        }
        const Plan *p = &ps.plans[gplan[i]];
        size_t ncols = (size_t)g->n_sys + g->n_data;
        if (p->ntable != shape_nn[gshape[i]]) {
            PyErr_SetString(PyExc_ValueError, "a plan's columns differ from its shape's");
            goto done;
        }
        for (uint32_t j = 0; j < p->ntable; j++)
            if (p->table[j] >= ncols) goto bad_position;
        for (size_t k = 0; k < p->src_start[ps.nnorm]; k++)
            if (p->src[k] >= 0 ? (size_t)p->src[k] >= ncols : (size_t)(-1 - p->src[k]) >= ps.nconsts)
                goto bad_position;
        gplan_by_id[B->order[i]] = gplan[i];
        gstart[i] = at;
        for (int64_t e = g->head; e >= 0; e = B->events[e].next) gev[at++] = e;
    }
    /* batch rows: files in order, each file's events in row order */
    file_base[0] = 0;
    for (size_t f = 0; f < B->nfiles; f++) file_base[f + 1] = file_base[f] + (size_t)B->files[f].rows;
    if (at != total || file_base[B->nfiles] != total) {
        PyErr_SetString(PyExc_SystemError, "events and rows disagree");
        goto done;
    }
    for (size_t e = 0; e < total; e++) {
        const Event *x = &B->events[e];
        byrow[file_base[B->groups[x->group].file] + (size_t)x->row] = (int64_t)e;
    }
    /* groups by shape (order kept) */
    for (size_t i = 0; i < B->ngroups; i++) shape_first[gshape[i] + 1]++;
    for (Py_ssize_t s = 0; s < nshapes; s++) shape_first[s + 1] += shape_first[s];
    {
        size_t *fill = PyMem_RawMalloc(((size_t)nshapes + 1) * sizeof(size_t));
        if (fill == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(fill, shape_first, ((size_t)nshapes + 1) * sizeof(size_t));
        for (size_t i = 0; i < B->ngroups; i++) shape_groups[fill[gshape[i]]++] = i;
        PyMem_RawFree(fill);
    }
    /* per shape: @row, and where each of its columns starts in its name's array (soff) */
    if (!(names_out = PyList_New(n_names)) || !(offsets_out = PyList_New(nshapes)) ||
        !(rows_out = PyList_New(nshapes)))
        goto done;
    size_t nsoff = 0;
    for (Py_ssize_t s = 0; s < nshapes; s++) nsoff += shape_nn[s];
    soff = PyMem_RawMalloc((nsoff + 1) * sizeof(size_t));
    soff_start = PyMem_RawMalloc(((size_t)nshapes + 1) * sizeof(size_t));
    if (soff == NULL || soff_start == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    nsoff = 0;
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        size_t rows = 0;
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++)
            rows += B->groups[B->order[shape_groups[k]]].count;
        PyObject *offs = PyList_New(shape_nn[s]);
        if (offs == NULL) goto done;
        PyList_SET_ITEM(offsets_out, s, offs);
        soff_start[s] = nsoff;
        for (uint32_t j = 0; j < shape_nn[s]; j++) {
            soff[nsoff++] = name_rows[shape_names[s][j]];
            PyObject *o = PyLong_FromSize_t(name_rows[shape_names[s][j]]);
            if (o == NULL) goto done;
            PyList_SET_ITEM(offs, j, o);
            name_rows[shape_names[s][j]] += rows;
        }
        PyObject *rb = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rows * sizeof(int64_t)));
        if (rb == NULL) goto done;
        PyList_SET_ITEM(rows_out, s, rb);
        int64_t *dst = (int64_t *)PyBytes_AS_STRING(rb);
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++) {
            size_t gi = shape_groups[k];
            for (size_t q = gstart[gi]; q < gstart[gi] + B->groups[B->order[gi]].count; q++)
                *dst++ = B->events[gev[q]].row;
        }
    }
    /* the values of each field name: one pass over each shape's events reading each event's cells once
       (row-major), their texts into one run of refs per name, then each name's array */
    for (Py_ssize_t nm = 0; nm < n_names; nm++) name_start[nm + 1] = name_start[nm] + name_rows[nm];
    size_t nvalues = name_start[n_names];
    if (nvalues > SIZE_MAX / sizeof(Ref) - 1 || (refs = PyMem_RawMalloc((nvalues + 1) * sizeof(Ref))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < nshapes; s++) {
        const uint32_t *nms = shape_names[s];
        const size_t *so = soff + soff_start[s];
        size_t rank = 0;
        for (size_t k = shape_first[s]; k < shape_first[s + 1]; k++) {
            size_t gi = shape_groups[k];
            const uint32_t *table = ps.plans[gplan[gi]].table;
            for (size_t q = gstart[gi]; q < gstart[gi] + B->groups[B->order[gi]].count; q++, rank++) {
                const Event *e = &B->events[gev[q]];
                const Cell *row = B->cells + e->cells;
                for (uint32_t j = 0; j < shape_nn[s]; j++)
                    refs[name_start[nms[j]] + so[j] + rank] = cell_ref(B, e, row[table[j]]);
            }
        }
    }
    for (Py_ssize_t nm = 0; nm < n_names; nm++) {
        PyObject *arr = wf_string_array(refs + name_start[nm], name_rows[nm], 0);
        if (arr == NULL) goto done;
        PyList_SET_ITEM(names_out, nm, arr);
    }
    PyMem_RawFree(refs);
    refs = NULL;
    /* normalised columns in batch row order: every column's pick of a row at once */
    if (ps.nnorm && total > (SIZE_MAX / sizeof(Ref) - 1) / ps.nnorm) {
        PyErr_NoMemory();
        goto done;
    }
    if ((refs = PyMem_RawMalloc((ps.nnorm * total + 1) * sizeof(Ref))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < total; i++) {
        const Event *e = &B->events[byrow[i]];
        const Plan *p = &ps.plans[gplan_by_id[e->group]];
        for (size_t c = 0; c < ps.nnorm; c++) refs[c * total + i] = first_source(B, &ps, p, e, c);
    }
    if (!(norm_out = PyList_New((Py_ssize_t)ps.nnorm))) goto done;
    for (size_t c = 0; c < ps.nnorm; c++) {
        PyObject *arr = wf_string_array(refs + c * total, total, 0);
        if (arr == NULL) goto done;
        PyList_SET_ITEM(norm_out, (Py_ssize_t)c, arr);
    }
    /* the hashes of the Sysmon hash lists, when they are all ASCII */
    int ascii = hash_column >= 0 && (size_t)hash_column < ps.nnorm;
    const Ref *lists = ascii ? refs + (size_t)hash_column * total : NULL;
    for (size_t i = 0; i < total && ascii; i++)
        for (uint32_t k = 0; lists[i].valid && k < lists[i].len && ascii; k++)
            if ((unsigned char)lists[i].p[k] >= 0x80) ascii = 0;
    if (!ascii) {
        Py_INCREF(Py_None);
        hash_out = Py_None;
    } else {
        const char *algos[8];
        size_t alens[8];
        Py_ssize_t nalgos;
        PyObject *af = PySequence_Fast(algos_arg, "algos must be a sequence");
        if (af == NULL) goto done;
        nalgos = PySequence_Fast_GET_SIZE(af);
        if (nalgos > 8 || total > (SIZE_MAX / sizeof(Ref) - 1) / 8) {
            Py_DECREF(af);
            PyErr_SetString(PyExc_ValueError, "at most 8 hash names");
            goto done;
        }
        for (Py_ssize_t a = 0; a < nalgos; a++) {
            Py_ssize_t alen;
            algos[a] = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(af, a), &alen);
            alens[a] = (size_t)alen;
            if (algos[a] == NULL) {
                Py_DECREF(af);
                goto done;
            }
        }
        hrefs = PyMem_RawMalloc(((size_t)nalgos * total + 1) * sizeof(Ref));
        if (hrefs == NULL || !(hash_out = PyList_New(nalgos))) {
            Py_DECREF(af);
            if (hrefs == NULL) PyErr_NoMemory();
            goto done;
        }
        for (size_t i = 0; i < total; i++) {
            if (lists[i].valid)
                find_hashes(lists[i], algos, alens, (size_t)nalgos, hrefs + i, total);
            else
                for (Py_ssize_t a = 0; a < nalgos; a++) hrefs[(size_t)a * total + i] = lists[i];
        }
        Py_DECREF(af); /* algos point into its strs: used above only */
        for (Py_ssize_t a = 0; a < nalgos; a++) {
            PyObject *arr = wf_string_array(hrefs + (size_t)a * total, total, 1);
            if (arr == NULL) goto done;
            PyList_SET_ITEM(hash_out, a, arr);
        }
    }
    /* originals (large_string): the arena itself when its events lie in batch row order */
    {
        PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((total + 1) * sizeof(int64_t)));
        if (offs == NULL) goto done;
        int64_t *o64 = (int64_t *)PyBytes_AS_STRING(offs);
        int in_order = 1;
        for (size_t r = 0; r < total && in_order; r++) in_order = byrow[r] == (int64_t)r;
        PyObject *data;
        if (in_order) {
            for (size_t r = 0; r < total; r++) o64[r] = (int64_t)B->events[r].orig;
            o64[total] = (int64_t)B->orig.len;
            data = wf_memory_new(B->orig.p, B->orig.len);
            B->orig.p = NULL; /* handed over (freed with the Memory on failure too) */
            B->orig.cap = 0;
        } else {
            char *p = PyMem_RawMalloc(B->orig.len + 1);
            if (p == NULL) {
                Py_DECREF(offs);
                PyErr_NoMemory();
                goto done;
            }
            size_t pos = 0;
            for (size_t r = 0; r < total; r++) {
                const Event *x = &B->events[byrow[r]];
                size_t end = (size_t)byrow[r] + 1 < total ? B->events[byrow[r] + 1].orig : B->orig.len;
                o64[r] = (int64_t)pos;
                memcpy(p + pos, B->orig.p + x->orig, end - x->orig);
                pos += end - x->orig;
            }
            o64[total] = (int64_t)pos;
            data = wf_memory_new(p, pos);
        }
        if (data == NULL) {
            Py_DECREF(offs);
            goto done;
        }
        B->built = 1;
        orig_out = Py_BuildValue("(nNN)", (Py_ssize_t)total, offs, data);
        if (orig_out == NULL) goto done;
    }
    out = PyTuple_Pack(6, names_out, offsets_out, rows_out, norm_out, orig_out, hash_out);
    goto done;
bad_position:
    PyErr_SetString(PyExc_ValueError, "a plan refers to a column its group lacks");
done:
    Py_XDECREF(names_out);
    Py_XDECREF(offsets_out);
    Py_XDECREF(rows_out);
    Py_XDECREF(norm_out);
    Py_XDECREF(orig_out);
    Py_XDECREF(hash_out);
    Py_XDECREF(sf);
    plans_free(&ps);
    PyMem_RawFree(gplan);
    PyMem_RawFree(gshape);
    if (shape_names != NULL)
        for (Py_ssize_t s = 0; s < nshapes; s++) PyMem_RawFree(shape_names[s]);
    PyMem_RawFree(shape_names);
    PyMem_RawFree(shape_nn);
    PyMem_RawFree(gev);
    PyMem_RawFree(refs);
    PyMem_RawFree(hrefs);
    PyMem_RawFree(soff);
    PyMem_RawFree(soff_start);
    PyMem_RawFree(byrow);
    PyMem_RawFree(gstart);
    PyMem_RawFree(gplan_by_id);
    PyMem_RawFree(name_rows);
    PyMem_RawFree(name_fill);
    PyMem_RawFree(name_start);
    PyMem_RawFree(file_base);
    PyMem_RawFree(shape_first);
    PyMem_RawFree(shape_groups);
    return out;
}
