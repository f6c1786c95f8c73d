/*
 * _winfast: the Windows event batch of aptcatch.hunt.readers.winsegments, with its per-event work in C.
 *
 * Why this is written by hand: the pure-Python batch (winsegments.Batch) makes a Python object for
 * every JSON value of every event (orjson), then moves them into lists and hands them to pyarrow;
 * that is ~24 us per event on top of the Rust EVTX parse, six times the parse itself. No library
 * turns evtx_dump JSON into per-shape Arrow columns, and this machine's registries carry no Rust
 * crates to write one against the evtx crate, so the batch is written here in C against the CPython
 * API only:
 *
 *   - ingest: each event text is parsed by a small strict JSON parser straight from the str's UTF-8
 *     (a flat node tape, depth-limited, every read bounds-checked), its shape key and values are
 *     computed as winsegments.parse_record computes them, and each value's final text (what
 *     winsegments.text_value makes of it) is recorded as a span of the event text (kept as the
 *     event's original) or of an arena of unescaped/joined texts, with a kind byte (no value /
 *     string / other), in per-(file, group) row-major cell arrays;
 *   - anything the parser does not handle exactly (floats, lone surrogates, duplicate keys, odd
 *     shapes, Winlogbeat or flat events, bad JSON ...) goes, one text at a time, to a Python callback
 *     that runs the reference code (orjson + parse_record) and whose parsed values are converted here
 *     with the same rules: never a guess;
 *   - build: given the plans the Python side computed (which column of a group goes where, the
 *     sources of each normalised column), the Arrow string buffers (offsets, data, validity) of every
 *     field name, of the normalised columns and of the originals are written into bytes objects that
 *     pyarrow wraps without a copy.
 *
 * Limits: texts of 4 GiB or more, nesting deeper than MAX_DEPTH and every form the parser does not
 * accept go to the Python path; sizes are checked for overflow; allocation failures raise MemoryError.
 * The GIL is held throughout.
 *
 * Files: _winfast.h (shared types, macros, inline helpers), _winfast_mem.c (growable memory, JSON tape
 * parser, memory handed to Arrow), _winfast_text.c (values as text, Python keys), _winfast_ingest.c
 * (groups and events, the Python path's values, ingest), _winfast_build.c (build) and this file (the
 * type's finish methods, the type and the module).
 */
#include "_winfast.h"

/* ------------------------------------------------------------------ the type: finish */

int wf_ensure_order(BatchObject *B) {
    if (B->order != NULL) return 0;
    size_t n = B->ngroups ? B->ngroups : 1;
    B->order = PyMem_RawMalloc(n * sizeof(int64_t));
    size_t *start = PyMem_RawCalloc(B->nfiles + 1, sizeof(size_t));
    if (B->order == NULL || start == NULL) {
        PyMem_RawFree(start);
        PyMem_RawFree(B->order);
        B->order = NULL;
        PyErr_NoMemory();
        return -1;
    }
    for (size_t g = 0; g < B->ngroups; g++) start[B->groups[g].file + 1]++;
    for (size_t f = 0; f < B->nfiles; f++) start[f + 1] += start[f];
    for (size_t g = 0; g < B->ngroups; g++) B->order[start[B->groups[g].file]++] = (int64_t)g;
    PyMem_RawFree(start);
    return 0;
}

/* [(file, key, rows, dropped System positions)] in the order winsegments.Batch._finish visits them;
   no event can be added afterwards */
static PyObject *Batch_groups(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    if (B->cell_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "batch not initialised");
        return NULL;
    }
    if (wf_ensure_order(B) < 0) return NULL;
    PyObject *out = PyList_New((Py_ssize_t)B->ngroups);
    char *seen = NULL;
    size_t capseen = 0;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < B->ngroups; i++) {
        Group *g = &B->groups[B->order[i]];
        if (reserve((void **)&seen, &capseen, (size_t)g->n_sys + 1, 1) < 0) goto fail;
        memset(seen, 0, g->n_sys);
        for (int64_t e = g->head; e >= 0; e = B->events[e].next) {
            const Cell *row = B->cells + B->events[e].cells;
            for (uint32_t c = 0; c < g->n_sys; c++)
                if (CELL_KIND(row[c]) != K_NONE) seen[c] = 1;
        }
        PyObject *dropped = PyList_New(0);
        if (dropped == NULL) goto fail;
        for (uint32_t c = 0; c < g->n_sys; c++) {
            if (!seen[c] && wf_list_add(dropped, PyLong_FromUnsignedLong(c)) < 0) {
                Py_DECREF(dropped);
                goto fail;
            }
        }
        PyObject *t = PyList_AsTuple(dropped);
        Py_DECREF(dropped);
        if (t == NULL) goto fail;
        PyObject *item = Py_BuildValue("(iOKN)", g->file, g->key, (unsigned long long)g->count, t);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    PyMem_RawFree(seen);
    return out;
fail:
    PyMem_RawFree(seen);
    Py_DECREF(out);
    return NULL;
}

static PyObject *Batch_file_rows(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New((Py_ssize_t)B->nfiles);
    if (out == NULL) return NULL;
    for (size_t f = 0; f < B->nfiles; f++) {
        PyObject *v = PyLong_FromLongLong(B->files[f].rows);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)f, v);
    }
    return out;
}

static PyObject *Batch_stats(BatchObject *B, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(nn)", B->fast, B->fallbacks);
}

static PyMethodDef Batch_methods[] = {
    {"open_file", (PyCFunction)wf_Batch_open_file, METH_NOARGS, "A new file; returns its id."},
    {"ingest", (PyCFunction)wf_Batch_ingest, METH_VARARGS, "ingest(file, texts, fallback) -> events added"},
    {"groups", (PyCFunction)Batch_groups, METH_NOARGS, "[(file, key, rows, dropped)] in finish order"},
    {"file_rows", (PyCFunction)Batch_file_rows, METH_NOARGS, "events per file"},
    {"build", (PyCFunction)wf_Batch_build, METH_VARARGS, "the Arrow buffers of the batch (once)"},
    {"stats", (PyCFunction)Batch_stats, METH_NOARGS, "(events on the C path, texts given to the fallback)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "aptcatch.hunt.readers._winfast.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_dealloc = (destructor)wf_Batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Windows events of a batch of files, their values kept as text spans (see the module doc).",
    .tp_methods = Batch_methods,
    .tp_init = (initproc)wf_Batch_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"squid_native", wf_squid_native, METH_VARARGS,
     "squid_native(buffer, start, stop, max_line) -> (0, lines, state, columns, slow) or (1, 0): Squid lines"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_winfast", "C accelerator of aptcatch.hunt.readers (winfast, squidfast).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__winfast(void) {
    if (PyType_Ready(&BatchType) < 0 || PyType_Ready(&wf_MemoryType) < 0) return NULL;
    wf_squid_init();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Batch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
