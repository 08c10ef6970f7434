# Install rules and the Debian package (CPack): `cmake --build build --target deb` builds
# the programs it holds (not the tests, as `--target package` would) and writes
# build/fsb_<VERSION>_amd64.deb.
#
# Destinations are relative to the install prefix, which is the root of the target file
# system: the package installs under "/" (CPACK_PACKAGING_INSTALL_PREFIX), and
# `cmake --install build --prefix DIR` lays out DIR/usr/bin, DIR/etc/default, ... as on
# a host.
#   usr/bin/fsb, usr/bin/fsb-controller
#   usr/lib/fsb/fsb-agent, fsb-init, fsb-logger   the agent runs the other two from its
#                                                 own folder (after /proc/self/exe, so
#                                                 through the symlink below as well)
#   usr/bin/fsb-agent -> ../lib/fsb/fsb-agent
#   usr/bin/fsb-gen-certs, usr/bin/fsb-add-token  scripts/gen-certs.sh, add-token.sh
#   lib/systemd/system/fsb-controller.service, fsb-agent.service
#   etc/default/fsb-controller, etc/default/fsb-agent   conffiles
#   usr/share/bash-completion/completions/fsb     `fsb completion bash`
include_guard(GLOBAL)

install(TARGETS fsb fsb-controller RUNTIME DESTINATION usr/bin)
install(TARGETS fsb-agent fsb-init fsb-logger RUNTIME DESTINATION usr/lib/fsb)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
file(CREATE_LINK ../lib/fsb/fsb-agent ${PROJECT_BINARY_DIR}/package/fsb-agent SYMBOLIC)
install(FILES ${PROJECT_BINARY_DIR}/package/fsb-agent DESTINATION usr/bin)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/gen-certs.sh DESTINATION usr/bin
        RENAME fsb-gen-certs)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/add-token.sh DESTINATION usr/bin
        RENAME fsb-add-token)

set(FSB_SYSTEMD_DIR ${PROJECT_SOURCE_DIR}/deploy/systemd)
install(FILES ${FSB_SYSTEMD_DIR}/fsb-controller.service ${FSB_SYSTEMD_DIR}/fsb-agent.service
        DESTINATION lib/systemd/system)
install(FILES ${FSB_SYSTEMD_DIR}/fsb-controller.default DESTINATION etc/default
        RENAME fsb-controller)
install(FILES ${FSB_SYSTEMD_DIR}/fsb-agent.default DESTINATION etc/default RENAME fsb-agent)

# The completion script comes from the CLI itself: one source of truth.
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/package/fsb.bash-completion
  COMMAND fsb completion bash > ${PROJECT_BINARY_DIR}/package/fsb.bash-completion
  DEPENDS fsb
  COMMENT "fsb completion bash")
add_custom_target(fsb_bash_completion ALL DEPENDS ${PROJECT_BINARY_DIR}/package/fsb.bash-completion)
install(FILES ${PROJECT_BINARY_DIR}/package/fsb.bash-completion
        DESTINATION usr/share/bash-completion/completions RENAME fsb)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fsb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "fsb maintainers <fsb@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fast sandboxes on containerd: controller, node agent and CLI")
set(CPACK_PACKAGE_DESCRIPTION
    "fsb starts isolated sandboxes (containers with their own filesystem, process tree, \
network namespace and resource limits) on a fleet of nodes in milliseconds.
This package holds fsb-controller, fsb-agent (with fsb-init and fsb-logger), the fsb \
CLI, systemd units (not enabled: make the PKI and tokens first), fsb-gen-certs and \
fsb-add-token.")
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries' packages from dpkg-shlibdeps, plus what the agent runs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "containerd, runc, containernetworking-plugins, nftables, iptables")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${FSB_SYSTEMD_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

add_custom_target(deb
  COMMAND ${CMAKE_CPACK_COMMAND} --config ${PROJECT_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
  COMMENT "Debian package fsb_${PROJECT_VERSION}_amd64.deb")
add_dependencies(deb fsb fsb-controller fsb-agent fsb-init fsb-logger fsb_bash_completion)
