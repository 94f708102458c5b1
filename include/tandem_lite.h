/* tandem-lite: an inference-only runtime for .tlite models (written by `tandem convert`).
 * C API; the library depends on the C++ standard library only.
 *
 *   tl_model* m = NULL;
 *   if (tl_model_load_file("mobilenet.tlite", &m) != TL_OK) { puts(tl_last_error()); return 1; }
 *   tl_context* c = NULL;
 *   tl_context_create(m, &c);                        // one per thread that runs the model
 *   int64_t shape[4] = {1, 3, 224, 224};
 *   tl_set_input(c, 0, shape, 4, pixels);            // float32, copied
 *   tl_run(c);
 *   const float* y; const int64_t* ys; int yr;
 *   tl_get_output(c, 0, &y, &ys, &yr);               // valid until the next run on c
 *   tl_context_destroy(c); tl_model_destroy(m);
 *
 * Ownership: a model owns its weights (a mmap of the file, or a copy of the buffer) and is
 * read-only once loaded, so any number of contexts on any threads share it; a context owns its
 * inputs, activations and outputs and must not be used by two threads at once. Destroy every
 * context before its model. Kernels run on the calling thread (one thread per context; run
 * contexts on several threads for throughput), unless tl_context_set_num_threads gives the
 * context more threads for each run. Errors: every call returns a tl_status; tl_last_error() is the
 * message of the calling thread's last failure. No call aborts on bad input or a bad file.
 */
#ifndef TANDEM_LITE_H
#define TANDEM_LITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_status {
  TL_OK = 0,
  TL_INVALID_ARGUMENT = 1, /* a null pointer, an index out of range, a wrong shape or dtype */
  TL_INVALID_MODEL = 2,    /* the file is not a valid .tlite model */
  TL_IO_ERROR = 3,         /* the file cannot be opened or read */
  TL_UNSUPPORTED = 4,      /* a valid model this runtime cannot run (e.g. a newer op) */
  TL_NOT_READY = 5,        /* an output read before a run, or an input not set */
  TL_INTERNAL = 6
} tl_status;

typedef enum tl_dtype { TL_FLOAT32 = 0, TL_INT8 = 1, TL_UINT8 = 2, TL_INT32 = 3, TL_INT64 = 4 } tl_dtype;

typedef struct tl_model tl_model;
typedef struct tl_context tl_context;

/* The calling thread's last error message ("" if none). Valid until its next failing call. */
const char* tl_last_error(void);
const char* tl_version(void);

/* Loading: from a file (mmap'ed, weights used in place) or from a buffer (copied). */
tl_status tl_model_load_file(const char* path, tl_model** out);
tl_status tl_model_load_buffer(const void* data, size_t size, tl_model** out);
void tl_model_destroy(tl_model* model);

/* The graph's inputs and outputs. Shapes as stored: -1 marks a dynamic dim (the batch).
 * The name and shape pointers live as long as the model. */
int tl_model_num_inputs(const tl_model* model);
int tl_model_num_outputs(const tl_model* model);
tl_status tl_model_input_info(const tl_model* model, int index, const char** name, tl_dtype* dtype,
                              const int64_t** shape, int* rank);
tl_status tl_model_output_info(const tl_model* model, int index, const char** name, tl_dtype* dtype,
                               const int64_t** shape, int* rank);
/* Index of the input/output named `name`, or -1. */
int tl_model_input_index(const tl_model* model, const char* name);
int tl_model_output_index(const tl_model* model, const char* name);
int tl_model_num_nodes(const tl_model* model);
/* The op name of node i ("conv2d", ...), or NULL when out of range. */
const char* tl_model_node_op(const tl_model* model, int index);

/* Contexts: the run state (inputs, planned activation arena, outputs) for one thread. */
tl_status tl_context_create(const tl_model* model, tl_context** out);
void tl_context_destroy(tl_context* ctx);

/* Sets input `index` (float32, C order) from `data`, copied. The shape must match the model's
 * (any size >= 1 in a dynamic dim). */
tl_status tl_set_input(tl_context* ctx, int index, const int64_t* shape, int rank, const float* data);
/* Runs the model. The first run for an input shape plans the arena; later runs allocate nothing. */
tl_status tl_run(tl_context* ctx);
/* Output `index` of the last run (float32, C order); pointers valid until the next run on ctx. */
tl_status tl_get_output(tl_context* ctx, int index, const float** data, const int64_t** shape, int* rank);
/* Threads inside each run on ctx (default 1; 1 to 256): the kernels split their work over the
 * calling thread and num_threads - 1 worker threads the context owns. Outputs are bit-identical
 * for any count. The WebAssembly build runs on one thread whatever the count. */
tl_status tl_context_set_num_threads(tl_context* ctx, int num_threads);
int tl_context_num_threads(const tl_context* ctx);
/* Activation arena bytes of the current plan (0 before the first run). */
size_t tl_context_arena_bytes(const tl_context* ctx);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_LITE_H */
