# The deployed-architectures set (bench/vision_models.py) against PyTorch through `tandem run`
# (tests/onnx/vision_models_test.py): exported once into the build tree, a few models per test
# so that ctest -j spreads them over the cores. Needs Debian's python3 with torch, torchvision.
# Label vision_models: the release stage runs it; the sanitizer stages do not (minutes there).
# Also torchvision's segmentation and detection models (torchvision_tasks_test.py).
find_program(TANDEM_VISION_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TANDEM_VISION_PYTHON)
  set(vision_groups
    "resnet18,resnet50,squeezenet1_1"
    "mobilenet_v2,mobilenet_v3_small,mobilenet_v3_large,shufflenet_v2_x0_5"
    "efficientnet_b0,mnasnet1_0,regnet_y_400mf,vit_block"
    "densenet121,googlenet,convnext_tiny")
  set(i 0)
  foreach(group ${vision_groups})
    math(EXPR i "${i} + 1")
    add_test(NAME OnnxVision.group${i}
             COMMAND ${TANDEM_VISION_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/vision_models_test.py
                     $<TARGET_FILE:tandem_cli> ${CMAKE_BINARY_DIR}/vision_models "${group}")
    set_tests_properties(OnnxVision.group${i} PROPERTIES LABELS vision_models TIMEOUT 600
                         ENVIRONMENT "OMP_NUM_THREADS=1")
  endforeach()
  # torchvision's segmentation and detection models (tests/onnx/torchvision_tasks_test.py).
  foreach(task "segmentation;fcn_resnet50,deeplabv3_mobilenet_v3_large,lraspp_mobilenet_v3_large"
               "detection;fasterrcnn_mobilenet_v3_large_320_fpn"
               "single_stage_detection;retinanet_resnet50_fpn,ssdlite320_mobilenet_v3_large")
    list(GET task 0 name)
    list(GET task 1 models)
    add_test(NAME OnnxTorchvision.${name}
             COMMAND ${TANDEM_VISION_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/torchvision_tasks_test.py
                     $<TARGET_FILE:tandem_cli> ${CMAKE_BINARY_DIR}/torchvision_tasks "${models}")
    set_tests_properties(OnnxTorchvision.${name} PROPERTIES LABELS vision_models TIMEOUT 600
                         ENVIRONMENT "OMP_NUM_THREADS=1")
  endforeach()
endif()
