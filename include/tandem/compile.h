// tandem::compile: capture eager code (a forward, a whole training step) into a graph and
// run the graph on later calls. See tandem/graph/compile.h for the API and the cache key.
#pragma once
#include "tandem/graph/compile.h"
#include "tandem/graph/ir.h"
#include "tandem/graph/trace.h"
