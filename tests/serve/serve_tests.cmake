# Real clients against a real `tandem serve` process (tests/serve/*.py): Debian's python3 with
# urllib (and numpy, onnx to write the test models), and curl. Each starts its own server on a
# free loopback port and stops it with SIGTERM. Label: the program they need (tandem_cli).
find_program(TANDEM_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(TANDEM_CURL curl)
if(TANDEM_SYSTEM_PYTHON AND TANDEM_CURL)  # tandem_cli: tools/, added after tests/
  foreach(script test_rest test_reload test_operations test_run_directory)
    add_test(NAME Serve.${script}
             COMMAND ${TANDEM_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${script}.py $<TARGET_FILE:tandem_cli>)
    set_tests_properties(Serve.${script} PROPERTIES LABELS tandem_cli TIMEOUT 300)
  endforeach()
endif()
