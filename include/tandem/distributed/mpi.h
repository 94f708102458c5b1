// The MPI backend of ProcessGroup (Open MPI, MPICH: any MPI-3 library).
//
//   // mpirun -np 2 ./train        (as root in a container: see README.md)
//   auto pg = distributed::init_mpi_process_group();
//   fmt::print("rank {} of {}\n", pg->rank(), pg->size());
//
// One communication thread owns every MPI call: it initializes MPI (MPI_THREAD_FUNNELED),
// issues the non-blocking collectives in the order they were requested, polls them (Open
// MPI's non-blocking collectives progress only while polled), and answers the other ranks'
// "where are you?" questions when one of their collectives times out, which is how a timeout
// names the rank that has not joined. MPI is initialized once per process; a second call
// returns the same group. Available when tandem was built with MPI (TANDEM_HAVE_MPI).
#pragma once
#include <memory>

#include "tandem/distributed/process_group.h"

namespace tandem::distributed {

std::shared_ptr<ProcessGroup> init_mpi_process_group(const ProcessGroupOptions& options = {});

// Whether this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE /
// PMI_SIZE): lets a program decide to initialize MPI or run alone.
bool launched_by_mpi();

}  // namespace tandem::distributed
