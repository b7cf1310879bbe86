/* sparq_model.h - the C API of a model compiled by `sparqc compile
 * --target cuda` or `--target arm`. Every model package has the same API;
 * the signature (names, shapes, element types) is in model.json and in the
 * functions below. */
#ifndef SPARQ_MODEL_H
#define SPARQ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sparq_model sparq_model;

/* Loads the package in `dir` (its model.weights): onto the current GPU for
 * cuda, into memory for arm.
 * Returns null on failure, with the reason in `error` (`error_size` bytes). */
sparq_model *sparq_model_load(const char *dir, char *error, size_t error_size);

/* Runs the model once: `inputs` and `outputs` are host buffers, one per
 * input and output in signature order, each holding the tensor row-major.
 * Returns 0, or -1 with the reason in sparq_model_error. */
int sparq_model_run(sparq_model *model, const void *const *inputs,
                    void *const *outputs);

const char *sparq_model_error(const sparq_model *model);
/* Milliseconds the last run spent on the device: for cuda between copying
 * its inputs in and its outputs out (CUDA events), for arm in the Halide
 * pipeline (a steady clock). */
double sparq_model_last_device_ms(const sparq_model *model);
void sparq_model_free(sparq_model *model);

/* The signature. Element types are numpy's names ("float32", "int64"). */
int sparq_model_num_inputs(void);
int sparq_model_num_outputs(void);
const char *sparq_model_input_name(int i);
const char *sparq_model_output_name(int i);
const char *sparq_model_input_dtype(int i);
const char *sparq_model_output_dtype(int i);
/* Rank, and the extents in `dims` (at least 8 entries). */
int sparq_model_input_shape(int i, int64_t *dims);
int sparq_model_output_shape(int i, int64_t *dims);

#ifdef __cplusplus
}
#endif

#endif /* SPARQ_MODEL_H */
