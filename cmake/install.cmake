# Install rules, included last by the top-level CMakeLists.txt: after every add_subdirectory, so
# the `hasync` target exists wherever engine/ defines it (it is named here only by target).
#
# Installed, and nothing else: the hasync binary and its `failover` link, the systemd unit, a
# sample settings file and the documentation. The tests, the benchmarks and the test doubles
# have no install() rules, and GoogleTest comes from Debian's libgtest-dev through
# find_package (no add_subdirectory of its sources), so none of its install rules reach this
# build; ci/package.sh checks the installed tree holds only what is listed here.
#
# Every destination is relative to the install prefix (GNUInstallDirs' convention), so one
# build installs correctly with `cmake --install --prefix DIR`, with DESTDIR staging, and
# through CPack (cmake/package.cmake), which installs with prefix /usr into a staging DESTDIR.
include(GNUInstallDirs)

install(TARGETS hasync RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Where the unit goes. Relative: under the prefix as it is at install time (prefix /usr:
# /usr/lib/systemd/system, where Debian's merged /usr and systemd look for a package's units;
# the default prefix /usr/local gives /usr/local/lib/systemd/system, which systemd also reads).
# An absolute path is used as it is (with DESTDIR in front when staging).
set(HASYNC_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
  "Folder for hasync.service; relative: under the install prefix (\${prefix}/lib/systemd/system)")

# The configured folders, handed to the install-time code below (which runs as a script, in
# cmake_install.cmake, where this file's variables are gone).
install(CODE "
  set(_hasync_bindir [[${CMAKE_INSTALL_BINDIR}]])
  set(_hasync_docdir [[${CMAKE_INSTALL_DOCDIR}]])
  set(_hasync_unit_dir [[${HASYNC_SYSTEMD_UNIT_DIR}]])
  set(_hasync_unit_template [[${PROJECT_SOURCE_DIR}/dist/hasync.service.in]])
  set(_hasync_unit_out [[${PROJECT_BINARY_DIR}/dist/hasync.service]])
")

install(CODE [[
  # A relative folder is under the prefix of this install: CMAKE_INSTALL_PREFIX here is the
  # one `cmake --install --prefix` or CPack gave, not necessarily the configured one.
  foreach(_dir IN ITEMS _hasync_bindir _hasync_docdir _hasync_unit_dir)
    if(NOT IS_ABSOLUTE "${${_dir}}")
      set(${_dir} "${CMAKE_INSTALL_PREFIX}/${${_dir}}")
    endif()
  endforeach()

  # `failover` is the same program (engine/main.cc reads argv[0]), a link beside it as in the
  # build tree. install() has no rule for a link, hence file(CREATE_LINK); relative, so the
  # staged tree (DESTDIR, CPack) still points at the right file once moved to its place.
  set(_hasync_link "$ENV{DESTDIR}${_hasync_bindir}/failover")
  message(STATUS "Installing: ${_hasync_link} -> hasync")
  file(CREATE_LINK hasync "${_hasync_link}" SYMBOLIC)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_hasync_link}")  # so an uninstall finds it

  # The unit names the binary by its installed path, so it is generated now, at install time,
  # from the prefix this install uses, rather than with configure_file at configure time: then
  # `--prefix DIR` gets DIR/bin/hasync and the .deb gets /usr/bin/hasync whatever prefix the
  # build was configured with (a build configured for /usr/local, packaged by cpack, would
  # otherwise ship a unit starting /usr/local/bin/hasync, which the package does not have).
  # DESTDIR is left out: it is where the tree is staged, not where it will run.
  set(CMAKE_INSTALL_FULL_BINDIR "${_hasync_bindir}")
  set(CMAKE_INSTALL_FULL_DOCDIR "${_hasync_docdir}")
  configure_file("${_hasync_unit_template}" "${_hasync_unit_out}" @ONLY)
  file(INSTALL DESTINATION "${_hasync_unit_dir}" TYPE FILE FILES "${_hasync_unit_out}")
]])

# The sample settings go with the documentation (Debian's /usr/share/doc/<package>/examples),
# not to /etc: the package then owns no conffile, and a node's real settings are never
# overwritten, nor left half-edited by a purge. docs/install.md says how to start from it.
install(FILES ${PROJECT_SOURCE_DIR}/dist/hasync.toml.sample
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME hasync.toml)

# The documentation, at the same relative paths as in the tree, so the READMEs' links between
# each other still work: README.md, each module's README.md and FORMAT.md (a module's
# sub-folders too, as engine/'s concerns get their own), and docs/ when there is one.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
set(_hasync_doc_globs)
foreach(_module IN ITEMS common transport snapshot verify engine)
  list(APPEND _hasync_doc_globs ${_module}/README.md ${_module}/FORMAT.md)
endforeach()
# CONFIGURE_DEPENDS: a README added in a new sub-folder is picked up by the next build.
file(GLOB_RECURSE _hasync_docs CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
  ${_hasync_doc_globs})
list(FILTER _hasync_docs EXCLUDE REGEX "(^|/)build[^/]*/")  # a build folder inside a module
foreach(_doc IN LISTS _hasync_docs)
  get_filename_component(_doc_dir ${_doc} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/${_doc} DESTINATION ${CMAKE_INSTALL_DOCDIR}/${_doc_dir})
endforeach()
# OPTIONAL: docs/ may not exist in every checkout; checked at install time, not configure time.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
