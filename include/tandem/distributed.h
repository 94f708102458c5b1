// Data-parallel training: process groups, DistributedDataParallel, DistributedSampler, ZeRO-1.
// The MPI backend is in tandem/distributed/mpi.h (when tandem was built with MPI).
#pragma once
#include "tandem/distributed/ddp.h"
#include "tandem/distributed/process_group.h"
#include "tandem/distributed/sampler.h"
#include "tandem/distributed/zero.h"
