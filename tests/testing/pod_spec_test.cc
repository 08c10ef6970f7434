#include "tests/testing/pod_spec.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kManifests[] = R"yaml(
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: web}
spec:
  template:
    spec:
      hostNetwork: true
      securityContext: {runAsUser: 1000, fsGroup: 2000}
      containers:
        - name: sidecar
          image: other
        - name: main
          image: docker.io/x/web:1.0
          command: [/bin/web]
          args: ["--node=$(NODE)", --port=80]
          env:
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
            - {name: MODE, value: fast}
          ports:
            - {name: http, containerPort: 80}
          securityContext: {privileged: true, runAsUser: 0, readOnlyRootFilesystem: true}
          volumeMounts:
            - {name: state, mountPath: /var/lib/web, mountPropagation: Bidirectional}
            - {name: keys, mountPath: /etc/keys, readOnly: true}
            - {name: data, mountPath: /data}
            - {name: scratch, mountPath: /tmp}
      volumes:
        - {name: state, hostPath: {path: /var/lib/web, type: DirectoryOrCreate}}
        - name: keys
          secret:
            secretName: web-keys
            defaultMode: 256
            items: [{key: tls.crt, path: web.crt}]
        - {name: data, persistentVolumeClaim: {claimName: web-data}}
        - {name: scratch, emptyDir: {}}
)yaml";

TEST(PodSpecTest, ReadsTheContainerAsKubernetesWouldRunIt) {
  absl::StatusOr<PodContainer> c = ReadPodContainer(kManifests, "DaemonSet", "web", "main");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->image, "docker.io/x/web:1.0");
  EXPECT_THAT(c->command, ElementsAre("/bin/web"));
  EXPECT_THAT(c->args, ElementsAre("--node=$(NODE)", "--port=80"));
  ASSERT_EQ(c->env.size(), 2u);
  EXPECT_EQ(c->env[0].name, "NODE");
  EXPECT_EQ(c->env[0].field_path, "spec.nodeName");
  EXPECT_EQ(c->env[1].value, "fast");
  EXPECT_THAT(c->ports, ElementsAre(80));
  EXPECT_TRUE(c->host_network);
  EXPECT_TRUE(c->privileged);
  EXPECT_TRUE(c->read_only_root);
  EXPECT_EQ(c->run_as_user, 0) << "the container's securityContext wins over the pod's";
  EXPECT_EQ(c->fs_group, 2000);
  EXPECT_FALSE(c->run_as_group.has_value());

  ASSERT_EQ(c->mounts.size(), 4u);
  const PodContainer::Mount& state = c->mounts[0];
  EXPECT_EQ(state.path, "/var/lib/web");
  EXPECT_EQ(state.propagation, "Bidirectional");
  EXPECT_EQ(state.volume.kind, PodContainer::Volume::Kind::kHostPath);
  EXPECT_EQ(state.volume.host_path, "/var/lib/web");
  const PodContainer::Mount& keys = c->mounts[1];
  EXPECT_TRUE(keys.read_only);
  EXPECT_EQ(keys.volume.kind, PodContainer::Volume::Kind::kSecret);
  EXPECT_EQ(keys.volume.secret_name, "web-keys");
  EXPECT_EQ(keys.volume.default_mode, 0400u);
  EXPECT_EQ(keys.volume.items.at("tls.crt"), "web.crt");
  EXPECT_EQ(c->mounts[2].volume.kind, PodContainer::Volume::Kind::kPersistentVolumeClaim);
  EXPECT_EQ(c->mounts[3].volume.kind, PodContainer::Volume::Kind::kEmptyDir);
}

TEST(PodSpecTest, NamesWhatIsMissing) {
  absl::StatusOr<PodContainer> c = ReadPodContainer(kManifests, "Deployment", "web", "main");
  EXPECT_TRUE(absl::IsNotFound(c.status()));
  EXPECT_THAT(c.status().message(), HasSubstr("no Deployment named web"));
  c = ReadPodContainer(kManifests, "DaemonSet", "web", "nope");
  EXPECT_TRUE(absl::IsNotFound(c.status()));
  EXPECT_THAT(c.status().message(), HasSubstr("has no container nope"));
  c = ReadPodContainer(kManifests, "Service", "web", "main");
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << "a Service has no pod template";
}

// Each manifest that cannot be run as written is rejected, naming the problem.
TEST(PodSpecTest, RejectsWhatItCannotRun) {
  const struct {
    std::string from, to, error;
  } cases[] = {
      {"{name: scratch, mountPath: /tmp}", "{name: ghost, mountPath: /tmp}",
       "ghost: the pod has no volume of that name"},
      {"{name: scratch, emptyDir: {}}", "{name: scratch, configMap: {name: c}}",
       "volume scratch: not hostPath, secret, emptyDir or persistentVolumeClaim"},
      {"valueFrom: {fieldRef: {fieldPath: spec.nodeName}}",
       "valueFrom: {secretKeyRef: {name: s, key: k}}", "env NODE: valueFrom other than fieldRef"},
      {"containerPort: 80", "containerPort: 70000", "containerPort outside 1-65535"},
      {"mountPath: /data", "mountPath: data", "data: mountPath is not an absolute path"},
      {"path: /var/lib/web,", "path: var/lib/web,", "hostPath.path is not an absolute path"},
      {"privileged: true", "privileged: yes-please", "privileged: not a boolean"},
      {"args: [", "args: 7 #", "args: not a list"},
      {"path: web.crt", "path: ../web.crt", "an item needs a key and a relative path"},
  };
  for (const auto& c : cases) {
    const std::string manifest = absl::StrReplaceAll(kManifests, {{c.from, c.to}});
    ASSERT_NE(manifest, kManifests) << c.from;
    absl::StatusOr<PodContainer> got = ReadPodContainer(manifest, "DaemonSet", "web", "main");
    EXPECT_TRUE(absl::IsInvalidArgument(got.status())) << c.to << ": " << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(c.error)) << c.to;
    EXPECT_THAT(got.status().message(), HasSubstr("DaemonSet web container main")) << c.to;
  }
  EXPECT_TRUE(
      absl::IsInvalidArgument(ReadPodContainer("a: [", "DaemonSet", "web", "main").status()));
}

TEST(PodSpecTest, ExpandsVariablesAsKubernetesDoes) {
  const std::map<std::string, std::string> vars = {{"NODE", "n1"}, {"IP", "10.0.0.1"}};
  EXPECT_EQ(ExpandVars("--node=$(NODE)", vars), "--node=n1");
  EXPECT_EQ(ExpandVars("$(IP):$(NODE)", vars), "10.0.0.1:n1");
  EXPECT_EQ(ExpandVars("$(UNSET) stays", vars), "$(UNSET) stays");
  EXPECT_EQ(ExpandVars("$$(NODE) is escaped", vars), "$(NODE) is escaped");
  EXPECT_EQ(ExpandVars("cost $5 $(NODE", vars), "cost $5 $(NODE");
  EXPECT_EQ(ExpandVars("end$", vars), "end$");
}

}  // namespace
}  // namespace fsb::testing
