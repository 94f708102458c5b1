# tests/distributed: one program (test_distributed) run by the real launcher, mpirun, with 2
# and with 3 ranks (more ranks than this 2-core machine has cores: --oversubscribe). As root
# in a container Open MPI also needs --allow-run-as-root, and its shared-memory transport
# must not try cross-process memory attach (OMPI_MCA_btl_vader_single_copy_mechanism=none).
# Built only when MPI was found (tandem_mpi).
if(NOT TARGET tandem_mpi)
  return()
endif()
file(GLOB dist_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/distributed/*.cpp)
add_executable(test_distributed ${dist_srcs})
target_link_libraries(test_distributed PRIVATE tandem_mpi tandem_test_util tandem_test_main)
target_link_libraries(test_distributed PRIVATE nlohmann_json::nlohmann_json)

set(TANDEM_MPIRUN ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe)
set(TANDEM_MPI_ENV "OMPI_MCA_btl_vader_single_copy_mechanism=none;OMP_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1")
foreach(np 2 3)
  add_test(NAME Distributed.np${np}
           COMMAND ${TANDEM_MPIRUN} -np ${np} $<TARGET_FILE:test_distributed> --gtest_filter=-Failure.*)
  set_tests_properties(Distributed.np${np} PROPERTIES LABELS other TIMEOUT 180 PROCESSORS 2
                       ENVIRONMENT "${TANDEM_MPI_ENV}")
endforeach()
# A stalled rank: the others must fail within the timeout naming it (the job exits non-zero).
add_test(NAME Distributed.StalledRankIsNamed
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/distributed/run_stall.sh ${MPIEXEC_EXECUTABLE}
                 $<TARGET_FILE:test_distributed>)
set_tests_properties(Distributed.StalledRankIsNamed PROPERTIES LABELS other TIMEOUT 60 PROCESSORS 2
                     ENVIRONMENT "${TANDEM_MPI_ENV}")
# `tandem train --distributed`: resume across world sizes, and a rank killed mid-epoch.
# (tools/ is added after tests/: the target is resolved when the build is generated.)
add_test(NAME Distributed.TrainResumeAcrossWorldSizes
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/distributed/run_resume.sh ${MPIEXEC_EXECUTABLE}
                   $<TARGET_FILE:tandem_cli>)
add_test(NAME Distributed.TrainZeroResumeAcrossWorldSizes
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/distributed/run_resume.sh ${MPIEXEC_EXECUTABLE}
                   $<TARGET_FILE:tandem_cli> --zero)
# ZeRO with a checkpoint every few steps (only rank 0 saves; every rank gathers the shards),
# resumed mid-epoch; the reported train loss is the global one.
add_test(NAME Distributed.TrainZeroCheckpointEveryNSteps
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/distributed/run_checkpoint_every.sh ${MPIEXEC_EXECUTABLE}
                   $<TARGET_FILE:tandem_cli>)
add_test(NAME Distributed.TrainRankKilledMidEpoch
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/distributed/run_kill.sh ${MPIEXEC_EXECUTABLE}
                   $<TARGET_FILE:tandem_cli>)
set_tests_properties(Distributed.TrainResumeAcrossWorldSizes Distributed.TrainZeroResumeAcrossWorldSizes
                     Distributed.TrainZeroCheckpointEveryNSteps Distributed.TrainRankKilledMidEpoch
                       PROPERTIES LABELS other TIMEOUT 240 PROCESSORS 2 ENVIRONMENT "${TANDEM_MPI_ENV}")
add_dependencies(test_distributed tandem_cli)
