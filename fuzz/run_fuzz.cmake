# Runs one libFuzzer target for SECONDS; fails on a crash, an escaping foreign exception,
# timeout or out-of-memory (the input is then in WORK_DIR/crash-*, timeout-*, oom-*):
#   cmake -DFUZZER=build/asan/fuzz/fuzz_npy -DNAME=npy -DWORK_DIR=build/asan/fuzz/npy
#         "-DSEEDS=fuzz/corpus/npy tests/data/dataio" -DSECONDS=60 -P fuzz/run_fuzz.cmake
# WORK_DIR/corpus, the fuzzer's own corpus, is kept between runs so coverage accumulates;
# the SEEDS folders (committed) are only read. Reproduce a crash: FUZZER WORK_DIR/crash-...
foreach(var FUZZER NAME WORK_DIR SEEDS SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: -D${var}=... is required")
  endif()
endforeach()
separate_arguments(seed_dirs UNIX_COMMAND "${SEEDS}")
separate_arguments(options UNIX_COMMAND "${OPTIONS}")
set(existing "")
foreach(d ${seed_dirs})
  if(IS_DIRECTORY ${d})
    list(APPEND existing ${d})
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR}/corpus)
# -timeout: one input taking 10 s is a hang; -rss_limit_mb: the parsers must refuse sizes they
# cannot back with data instead of allocating them.
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix=${WORK_DIR}/ ${options} ${WORK_DIR}/corpus ${existing}
  RESULT_VARIABLE rc ERROR_VARIABLE log OUTPUT_VARIABLE out)
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" runs "${log}")
string(REGEX MATCHALL "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*" covs "${log}")
set(cov "")
if(covs)
  list(GET covs -1 cov)
endif()
message(STATUS "fuzz ${NAME}: ${runs} (${SECONDS} s); at the end ${cov}")
if(NOT rc EQUAL 0)
  string(LENGTH "${log}" n)
  if(n GREATER 6000)
    math(EXPR from "${n} - 6000")
    string(SUBSTRING "${log}" ${from} 6000 log)
  endif()
  message("${log}")
  message(FATAL_ERROR "fuzz ${NAME}: the fuzzer failed (exit ${rc}); the input is in ${WORK_DIR}/ "
                      "(reproduce: ${FUZZER} <file>; then add it to fuzz/corpus/${NAME}/)")
endif()
