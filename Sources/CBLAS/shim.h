// OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
#include <cblas.h>
// Declared by OpenBLAS's own cblas.h; repeated so the reference cblas.h alternative also works.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
