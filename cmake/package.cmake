# A Debian package with CPack, included after cmake/install.cmake: `cpack -G DEB` in the build
# folder packs exactly what `cmake --install` installs (ci/package.sh builds, checks, installs
# and purges it; docs/install.md is the packager's side).
#
# CPack's DEB generator installs with CMAKE_INSTALL_PREFIX set to CPACK_PACKAGING_INSTALL_PREFIX
# and DESTDIR set to its staging folder, whatever prefix the build was configured with; the unit
# is generated at install time from that prefix (cmake/install.cmake), so the package's unit
# always starts /usr/bin/hasync. CPACK_SET_DESTDIR stays unset on purpose: set, it would make
# CPack install with the configured prefix instead (/usr/local for a plain configure).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hasync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)  # a distribution package's files live under /usr
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "keeps a Secondary an exact, verified, crash-consistent copy of its Primary")
# Lines of at most 80 columns, as dpkg and lintian expect of the extended description; CPack
# indents each one by a space in the control file.
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "hasync replicates a Primary server to a Secondary over ssh: its PostgreSQL"
  "database (a consistent snapshot first, then the logical changes) and its file"
  "trees (changed blocks only), every block checked by its xxh3 hash, the database"
  "and the files of one sync committed together or not at all. Its daemon runs the"
  "scheduled syncs, checks the Primary's heartbeat and promotes the Secondary when"
  "the Primary dies, serves the load balancer's status pages and sends"
  "notifications; hasync verify proves both sides equal.")
# A cache variable: whoever builds the package names themselves (Debian policy 3.3: a working
# address); the default is a placeholder for the project's own builds.
set(HASYNC_PACKAGE_MAINTAINER "hasync maintainers <hasync@example.org>" CACHE STRING
  "The .deb's Maintainer field: Name <email>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${HASYNC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# hasync_<version>_<arch>.deb, Debian's own naming, rather than CPack's hasync-<version>-Linux.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The shared libraries' packages (libpq5, libzstd1, liburing2, libsqlite3-0, libcurl4,
# libssl3...) come from dpkg-shlibdeps (dpkg-dev) reading the binary, at the versions it was
# linked against, rather than a hand-kept list that drifts. CPack appends them to the ones below.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Programs hasync runs rather than links: ssh to reach the peer; pg_dump --schema-only, which the
# Primary runs for a full database copy (PostgreSQL 15's, the servers' version, in
# /usr/lib/postgresql/15/bin, where hasync looks for it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "openssh-client, postgresql-client-15")
# Control files with the permissions dpkg and lintian expect (0644, scripts 0755).
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
