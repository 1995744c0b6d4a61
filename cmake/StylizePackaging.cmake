# Installing stylize like a tool, and a Debian package of it.
#
#   cmake --install build --prefix /usr/local    # bin/stylize, share/doc/stylize, share/stylize
#   cd build && cpack -G DEB                      # stylize_<version>_<arch>.deb (prefix /usr)
#
# An installed stylize finds its model as <prefix>/share/stylize/vgg19.pt (after --model,
# $STYLIZE_MODEL, ./models/vgg19.pt and <prefix>/models/vgg19.pt). The package carries no weights
# unless STYLIZE_INSTALL_MODEL names a model file.
include(GNUInstallDirs)

install(FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES LICENSE DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME copyright)
# The scale-out scripts (README "Batch mode"); installed, they find stylize on PATH.
install(PROGRAMS scripts/slurm_array.sh scripts/parallel_shards.sh
        DESTINATION "${CMAKE_INSTALL_DATADIR}/stylize/scripts")
set(STYLIZE_INSTALL_MODEL "" CACHE FILEPATH
    "A TorchScript model (e.g. models/vgg19.pt) to install as share/stylize/vgg19.pt; empty: none")
if(STYLIZE_INSTALL_MODEL)
  install(FILES "${STYLIZE_INSTALL_MODEL}" DESTINATION "${CMAKE_INSTALL_DATADIR}/stylize"
          RENAME vgg19.pt)
endif()

set(STYLIZE_PACKAGE_CONTACT "stylize maintainers" CACHE STRING
    "The Maintainer of the Debian package (\"Name <email>\")")
set(CPACK_PACKAGE_NAME stylize)
set(CPACK_PACKAGE_CONTACT "${STYLIZE_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "stylize repaints a photo in the style of a painting (Gatys et al.): batches, Slurm job arrays "
  "and GNU parallel shards, resumable with --skip-existing. It needs VGG-19 weights exported "
  "to TorchScript, installed as /usr/share/stylize/vgg19.pt or passed with --model.")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_RESOURCE_FILE_README "${PROJECT_SOURCE_DIR}/README.md")
set(CPACK_VERBATIM_VARIABLES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
# The runtime packages of the libraries stylize links directly (readelf -d: NEEDED), as
# dpkg-shlibdeps reports them for Debian 12 (tests/scale_out/package_test.sh checks the two
# agree); LibTorch brings its own dependencies. libspdlog1.10 provides libspdlog1.10-fmt9.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libtorch1.13 (>= 1.13.1+dfsg), libdnnl2 (>= 2.0), libopencv-core406 (>= 4.6.0+dfsg), \
libopencv-imgproc406 (>= 4.6.0+dfsg), libopencv-imgcodecs406 (>= 4.6.0+dfsg), \
libopencv-video406 (>= 4.6.0+dfsg), libopencv-videoio406 (>= 4.6.0+dfsg), \
libopencv-contrib406 (>= 4.6.0+dfsg), libspdlog1.10-fmt9, libfmt9 (>= 9.1.0+ds1), zlib1g (>= 1:1.2.0), libstdc++6 (>= 11), \
libgcc-s1 (>= 3.0), libgomp1 (>= 4.9), libc6 (>= 2.34)")
# Not linked: the BLAS that the executable's RPATH prefers to the system default (src/CMakeLists.txt);
# without it stylize runs, about 1.2x slower.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0-openmp")
# ffmpeg: a video's audio goes into the stylized video (without it, OpenCV writes the video alone).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ffmpeg, parallel, slurm-client")
set(CPACK_SOURCE_GENERATOR TXZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/" "/\\.cache/" "/models/[^/]*\\.pt$")
include(CPack)
