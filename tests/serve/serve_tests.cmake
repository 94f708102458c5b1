# Real clients against a real `tandem serve` process (tests/serve/*.py): Debian's python3 with
# urllib (and numpy, onnx to write the test models), and curl. Each starts its own server on a
# free loopback port and stops it with SIGTERM. Label: the program they need (tandem_cli).
find_program(TANDEM_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(TANDEM_CURL curl)
if(TANDEM_SYSTEM_PYTHON AND TANDEM_CURL)  # tandem_cli: tools/, added after tests/
  # test_reload.py's RSS check (an unloaded version's memory goes back to the OS) is a test of
  # its own, so that the ASan stage can leave it out (quarantine and shadow memory keep RSS up)
  # and still run the other reload tests. Extra arguments go to unittest (-k: a name pattern).
  set(serve_tests "test_rest" "test_reload|-k|under_load|-k|retried_once" "test_operations"
                  "test_run_directory" "test_reload_memory|-k|return_their_memory")
  foreach(entry ${serve_tests})
    string(REPLACE "|" ";" args "${entry}")
    list(POP_FRONT args name)
    string(REGEX REPLACE "_memory$" "" script "${name}")
    add_test(NAME Serve.${name}
             COMMAND ${TANDEM_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${script}.py $<TARGET_FILE:tandem_cli> ${args})
    set_tests_properties(Serve.${name} PROPERTIES LABELS tandem_cli TIMEOUT 300)
  endforeach()
endif()
