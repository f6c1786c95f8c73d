/*
 * _winfast_text.c: per event of the C path (see _winfast.c), what winsegments.parse_record and text_value
 * make of its JSON tape: each value's final text as a pending cell (a span of the event text or of the
 * extra arena), the event's key signature, and the Python key of a signature seen for the first time.
 */
#include "_winfast.h"

/* ------------------------------------------------------------------ values as text */

/* JSON string content [start, end) with escapes, unescaped into b (no surrogates: checked) */
static int unescape(Buf *b, const unsigned char *s, uint32_t start, uint32_t end) {
    uint32_t i = start;
    while (i < end) {
        uint32_t j = i;
        while (j < end && s[j] != '\\') j++;
        if (buf_put(b, s + i, j - i) < 0) return ERR;
        if (j >= end) break;
        unsigned char e = s[j + 1], out[3];
        size_t k = 1;
        i = j + 2;
        switch (e) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u': {
            unsigned v = hex4(s + j + 2);
            i = j + 6;
            if (v < 0x80) {
                out[0] = (unsigned char)v;
            } else if (v < 0x800) {
                out[0] = (unsigned char)(0xC0 | v >> 6);
                out[1] = (unsigned char)(0x80 | (v & 0x3F));
                k = 2;
            } else {
                out[0] = (unsigned char)(0xE0 | v >> 12);
                out[1] = (unsigned char)(0x80 | (v >> 6 & 0x3F));
                out[2] = (unsigned char)(0x80 | (v & 0x3F));
                k = 3;
            }
            break;
        }
        default: out[0] = e; /* " \ / */
        }
        if (buf_put(b, out, k) < 0) return ERR;
    }
    return 0;
}

/* winsegments.cell of node v appended to the extra arena: 1 text, 0 None, BAIL, ERR */
static int cell_text(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        return 0;
    case J_STR:
        if (x->esc) return unescape(&B->extra, P->s, x->start, x->end) < 0 ? ERR : 1;
        /* fall through */
    case J_INT:
    case J_TRUE:
    case J_FALSE:
        return buf_put(&B->extra, P->s + x->start, x->end - x->start) < 0 ? ERR : 1;
    case J_OBJ: {
        int64_t t = obj_get(P, v, "#text", 5);
        if (t < 0) return BAIL; /* orjson.dumps of the object: the Python path */
        return cell_text(B, P, t);
    }
    case J_ARR: { /* the parts that are not None, joined with ',' */
        int64_t j = v + 1;
        uint32_t parts = 0;
        for (uint32_t m = 0; m < x->count; m++) {
            size_t mark = B->extra.len;
            if (parts && buf_byte(&B->extra, ',') < 0) return ERR;
            int r = cell_text(B, P, j);
            if (r < 0) return r;
            if (r == 0)
                B->extra.len = mark;
            else
                parts++;
            j = P->nodes[j].next;
        }
        return parts ? 1 : 0;
    }
    }
    return BAIL;
}

/* text_value of node v as a pending cell */
static int add_cell(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        return pend_cell(B, MK_CELL(0, 0, K_NONE));
    case J_STR:
        if (!x->esc) return pend_cell(B, MK_CELL(x->start, x->end - x->start, K_STR));
        {
            size_t mark = B->extra.len;
            if (unescape(&B->extra, P->s, x->start, x->end) < 0) return ERR;
            return pend_extra(B, mark, K_STR);
        }
    case J_INT:
    case J_TRUE:
    case J_FALSE:
        return pend_cell(B, MK_CELL(x->start, x->end - x->start, K_OTHER));
    default: {
        size_t mark = B->extra.len;
        int r = cell_text(B, P, v);
        if (r < 0) return r;
        return pend_extra(B, mark, r ? K_OTHER : K_OTHER_NULL);
    }
    }
}

static int sig_name(Buf *b, char tag, const Parser *P, int64_t k) {
    const Node *x = &P->nodes[k];
    if (buf_byte(b, tag) < 0 || buf_u32(b, x->end - x->start) < 0) return ERR;
    return buf_put(b, P->s + x->start, x->end - x->start) < 0 ? ERR : 0;
}

/* a key value (Channel, EventID, Provider name): -1 (None) or a scalar node; containers bail */
static int sig_scalar(BatchObject *B, const Parser *P, int64_t v) {
    if (v < 0) return buf_byte(&B->sig, 'n') < 0 ? ERR : 0;
    const Node *x = &P->nodes[v];
    if (x->type == J_ARR || x->type == J_OBJ) return BAIL;
    return sig_name(&B->sig, (char)('0' + x->type), P, v);
}

static inline int is_xmlns(const Parser *P, int64_t k) {
    const Node *x = &P->nodes[k];
    return x->end - x->start >= 5 && memcmp(P->s + x->start, "xmlns", 5) == 0;
}

static inline int data_name_unused(const Parser *P, int64_t k) {
    /* data names plan_columns never places (winsegments.CONSTANTS, '#attributes', '@row') */
    return key_is(P, k, "#attributes", 11) || key_is(P, k, "Channel", 7) || key_is(P, k, "EventID", 7) ||
           key_is(P, k, "Provider_Name", 13) || key_is(P, k, "@row", 4);
}

/* one data field (name node k, value node v) */
static int add_data(BatchObject *B, const Parser *P, int64_t k, int64_t v) {
    if (reserve((void **)&B->dnames, &B->capdnames, (size_t)B->n_data + 1, sizeof(int64_t)) < 0) return ERR;
    if (sig_name(&B->sig, 'd', P, k) < 0) return ERR;
    size_t mark = B->extra.len;
    int r = add_cell(B, P, v);
    if (r == BAIL && data_name_unused(P, k)) {
        B->extra.len = mark;
        r = pend_cell(B, MK_CELL(0, 0, K_OTHER_NULL));
    }
    if (r < 0) return r;
    B->dnames[B->n_data++] = k;
    return 0;
}

/* winsegments.event_sections where no nested element is flattened: each section's fields (UserData's
   one inner element's), or the section itself when it is no object; repeated names bail */
static int sections(BatchObject *B, const Parser *P, int64_t ev) {
    const Node *nd = P->nodes;
    int r;
    int64_t j = ev + 1;
    for (uint32_t m = 0; m < nd[ev].count; m++) {
        int64_t body = j + 1;
        if (key_is(P, j, "System", 6) || key_is(P, j, "#attributes", 11) || nd[body].type == J_NULL) {
            j = nd[body].next;
            continue;
        }
        if (key_is(P, j, "UserData", 8) && nd[body].type == J_OBJ) {
            int64_t inner = -1, c = body + 1;
            uint32_t count = 0;
            for (uint32_t q = 0; q < nd[body].count; q++) {
                if (!key_is(P, c, "#attributes", 11)) {
                    inner = c + 1;
                    count++;
                }
                c = nd[c + 1].next;
            }
            if (count == 1) body = inner;
        }
        if (nd[body].type == J_OBJ) {
            int64_t c = body + 1;
            for (uint32_t q = 0; q < nd[body].count; q++) {
                if (!key_is(P, c, "#attributes", 11)) {
                    if (nd[c + 1].type == J_OBJ) return BAIL; /* flattened into composite names */
                    if ((r = add_data(B, P, c, c + 1)) < 0) return r;
                }
                c = nd[c + 1].next;
            }
        } else if ((r = add_data(B, P, j, body)) < 0) {
            return r;
        }
        j = nd[j + 1].next;
    }
    for (uint32_t a = 1; a < B->n_data; a++) /* a repeated name keeps its first place: the Python path */
        for (uint32_t b = 0; b < a; b++)
            if (same_key(P, B->dnames[a], B->dnames[b])) return BAIL;
    return 0;
}

/* parse_record on the tape: key signature and pending cells, or BAIL */
int wf_interpret(BatchObject *B, const Parser *P) {
    const Node *nd = P->nodes;
    B->npend = 0;
    B->sig.len = 0;
    B->n_sys = B->n_data = 0;
    if (nd[0].type != J_OBJ) return BAIL;
    int64_t ev = obj_get(P, 0, "Event", 5);
    if (ev < 0 || nd[ev].type != J_OBJ) return BAIL;
    int64_t sys = obj_get(P, ev, "System", 6);
    if (sys < 0 || nd[sys].type != J_OBJ) return BAIL;
    int64_t data = obj_get(P, ev, "EventData", 9);
    int direct = data >= 0 && nd[data].type == J_OBJ && nd[ev].count <= 3;
    /* the key's values */
    int64_t chan = obj_get(P, sys, "Channel", 7);
    int64_t eid = obj_get(P, sys, "EventID", 7);
    if (eid >= 0 && nd[eid].type == J_OBJ) eid = obj_get(P, eid, "#text", 5);
    int64_t prov = obj_get(P, sys, "Provider", 8);
    if (prov >= 0 && nd[prov].type == J_OBJ) {
        int64_t attrs = obj_get(P, prov, "#attributes", 11);
        prov = (attrs >= 0 && nd[attrs].type == J_OBJ) ? obj_get(P, attrs, "Name", 4) : -1;
    }
    int r;
    if ((r = sig_scalar(B, P, chan)) < 0 || (r = sig_scalar(B, P, eid)) < 0 || (r = sig_scalar(B, P, prov)) < 0)
        return r;
    /* System, flattened as parse_record flattens it */
    int64_t j = sys + 1;
    for (uint32_t m = 0; m < nd[sys].count; m++) {
        int64_t v = j + 1;
        if (sig_name(&B->sig, 'K', P, j) < 0) return ERR;
        if (nd[v].type == J_OBJ) {
            int64_t attrs = nd[v].count == 1 ? obj_get(P, v, "#attributes", 11) : -1;
            if (attrs >= 0 && nd[attrs].type == J_OBJ) {
                if (buf_byte(&B->sig, 'A') < 0) return ERR;
                int64_t a = attrs + 1;
                for (uint32_t q = 0; q < nd[attrs].count; q++) {
                    if (sig_name(&B->sig, 'a', P, a) < 0) return ERR;
                    if ((r = add_cell(B, P, a + 1)) < 0) return r;
                    B->n_sys++;
                    a = nd[a + 1].next;
                }
            } else { /* winsegments.flatten of {"#attributes": {...}, "#text": ...} */
                if (buf_byte(&B->sig, 'F') < 0) return ERR;
                int64_t c = v + 1;
                for (uint32_t q = 0; q < nd[v].count; q++) {
                    int64_t cv = c + 1;
                    if (key_is(P, c, "#attributes", 11)) {
                        if (nd[cv].type == J_OBJ) {
                            int64_t a = cv + 1;
                            for (uint32_t w = 0; w < nd[cv].count; w++) {
                                if (!is_xmlns(P, a)) {
                                    if (sig_name(&B->sig, 'a', P, a) < 0) return ERR;
                                    if ((r = add_cell(B, P, a + 1)) < 0) return r;
                                    B->n_sys++;
                                }
                                a = nd[a + 1].next;
                            }
                        }
                    } else if (key_is(P, c, "#text", 5)) {
                        if (buf_byte(&B->sig, 'T') < 0) return ERR;
                        if ((r = add_cell(B, P, cv)) < 0) return r;
                        B->n_sys++;
                    } else {
                        return BAIL; /* nested elements */
                    }
                    c = nd[cv].next;
                }
                if (buf_byte(&B->sig, 'f') < 0) return ERR;
            }
        } else {
            if (buf_byte(&B->sig, 'N') < 0) return ERR;
            if ((r = add_cell(B, P, v)) < 0) return r;
            B->n_sys++;
        }
        j = nd[v].next;
    }
    /* the data fields */
    if (buf_byte(&B->sig, 'D') < 0) return ERR;
    if (direct) {
        j = data + 1;
        for (uint32_t m = 0; m < nd[data].count; m++) {
            if ((r = add_data(B, P, j, j + 1)) < 0) return r;
            j = nd[j + 1].next;
        }
    } else if ((r = sections(B, P, ev)) < 0) {
        return r;
    }
    B->sys = sys;
    B->chan = chan;
    B->eid = eid;
    B->prov = prov;
    return 0;
}

/* ------------------------------------------------------------------ Python keys */

static PyObject *py_text(BatchObject *B, const Parser *P, int64_t v) {
    const Node *x = &P->nodes[v];
    if (!x->esc) return PyUnicode_DecodeUTF8((const char *)P->s + x->start, x->end - x->start, "strict");
    size_t mark = B->extra.len;
    if (unescape(&B->extra, P->s, x->start, x->end) < 0) return NULL;
    PyObject *out = PyUnicode_DecodeUTF8(B->extra.p + mark, (Py_ssize_t)(B->extra.len - mark), "strict");
    B->extra.len = mark;
    return out;
}

static PyObject *py_scalar(BatchObject *B, const Parser *P, int64_t v) {
    if (v < 0) Py_RETURN_NONE;
    const Node *x = &P->nodes[v];
    switch (x->type) {
    case J_NULL:
        Py_RETURN_NONE;
    case J_TRUE:
        Py_RETURN_TRUE;
    case J_FALSE:
        Py_RETURN_FALSE;
    case J_INT: {
        char digits[32];
        uint32_t len = x->end - x->start;
        if (len >= sizeof digits) {
            PyErr_SetString(PyExc_SystemError, "integer too long");
            return NULL;
        }
        memcpy(digits, P->s + x->start, len);
        digits[len] = 0;
        return PyLong_FromString(digits, NULL, 10);
    }
    case J_STR:
        return py_text(B, P, v);
    }
    PyErr_SetString(PyExc_SystemError, "no scalar");
    return NULL;
}

/* "<k>_<a>" from two name nodes */
static PyObject *join_names(const Parser *P, int64_t k, int64_t a) {
    const Node *x = &P->nodes[k], *y = &P->nodes[a];
    size_t lx = x->end - x->start, ly = y->end - y->start;
    char *tmp = PyMem_RawMalloc(lx + ly + 1);
    if (tmp == NULL) return PyErr_NoMemory();
    memcpy(tmp, P->s + x->start, lx);
    tmp[lx] = '_';
    memcpy(tmp + lx + 1, P->s + y->start, ly);
    PyObject *out = PyUnicode_DecodeUTF8(tmp, (Py_ssize_t)(lx + ly + 1), "strict");
    PyMem_RawFree(tmp);
    return out;
}

int wf_list_add(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* (Channel, EventID, Provider name, data names, (System keys, System layout)) as parse_record makes it */
PyObject *wf_build_key(BatchObject *B, const Parser *P) {
    const Node *nd = P->nodes;
    PyObject *names = NULL, *keys = NULL, *sig = NULL, *entry = NULL, *out = NULL;
    PyObject *t_names = NULL, *t_keys = NULL, *t_sig = NULL, *shape = NULL;
    PyObject *chan = NULL, *eid = NULL, *prov = NULL;
    if (!(names = PyList_New(0)) || !(keys = PyList_New(0)) || !(sig = PyList_New(0))) goto done;
    for (uint32_t m = 0; m < B->n_data; m++)
        if (wf_list_add(names, py_text(B, P, B->dnames[m])) < 0) goto done;
    int64_t j = B->sys + 1;
    for (uint32_t m = 0; m < nd[B->sys].count; m++) {
        int64_t v = j + 1;
        if (wf_list_add(keys, py_text(B, P, j)) < 0) goto done;
        if (nd[v].type != J_OBJ) {
            Py_INCREF(Py_None);
            if (wf_list_add(sig, Py_None) < 0) goto done;
        } else {
            int64_t attrs = nd[v].count == 1 ? obj_get(P, v, "#attributes", 11) : -1;
            if (!(entry = PyList_New(0))) goto done;
            if (attrs >= 0 && nd[attrs].type == J_OBJ) {
                int64_t a = attrs + 1;
                for (uint32_t q = 0; q < nd[attrs].count; q++) {
                    if (wf_list_add(entry, py_text(B, P, a)) < 0) goto done;
                    a = nd[a + 1].next;
                }
            } else {
                if (wf_list_add(entry, PyUnicode_FromString("#flat")) < 0) goto done;
                int64_t c = v + 1;
                for (uint32_t q = 0; q < nd[v].count; q++) {
                    int64_t cv = c + 1;
                    if (key_is(P, c, "#attributes", 11)) {
                        if (nd[cv].type == J_OBJ) {
                            int64_t a = cv + 1;
                            for (uint32_t w = 0; w < nd[cv].count; w++) {
                                if (!is_xmlns(P, a) && wf_list_add(entry, join_names(P, j, a)) < 0) goto done;
                                a = nd[a + 1].next;
                            }
                        }
                    } else if (wf_list_add(entry, py_text(B, P, j)) < 0) { /* #text: the element's name */
                        goto done;
                    }
                    c = nd[cv].next;
                }
            }
            PyObject *tup = PyList_AsTuple(entry);
            Py_CLEAR(entry);
            if (wf_list_add(sig, tup) < 0) goto done;
        }
        j = nd[v].next;
    }
    if (!(t_names = PyList_AsTuple(names)) || !(t_keys = PyList_AsTuple(keys)) || !(t_sig = PyList_AsTuple(sig)))
        goto done;
    if (!(shape = PyTuple_Pack(2, t_keys, t_sig))) goto done;
    if (!(chan = py_scalar(B, P, B->chan)) || !(eid = py_scalar(B, P, B->eid)) || !(prov = py_scalar(B, P, B->prov)))
        goto done;
    out = PyTuple_Pack(5, chan, eid, prov, t_names, shape);
done:
    Py_XDECREF(names);
    Py_XDECREF(keys);
    Py_XDECREF(sig);
    Py_XDECREF(entry);
    Py_XDECREF(t_names);
    Py_XDECREF(t_keys);
    Py_XDECREF(t_sig);
    Py_XDECREF(shape);
    Py_XDECREF(chan);
    Py_XDECREF(eid);
    Py_XDECREF(prov);
    return out;
}
