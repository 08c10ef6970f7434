#!/usr/bin/python3
"""A client of the seed system's fastpath.v1, as its users generate one, against fsb.

    seed_client.py --endpoint HOST:PORT --ca CA.crt --token TOKEN --image IMAGE --out DIR

Generates the Python messages and stubs from tests/seed/fastpath.proto (protoc and
grpc_python_plugin, Debian's protobuf-compiler-grpc) into DIR, then, over TLS verifying
the controller against CA.crt and with "authorization: Bearer TOKEN" on every call:
creates a sandbox, gets it, finds it in a list, deletes it; and checks that a call
without the token is refused with UNAUTHENTICATED. Prints one line per step; exits 0
when every step did what the seed's clients expect, 1 otherwise.
"""

import argparse
import os
import subprocess
import sys
import time


def generate(out_dir):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(
        ["protoc", "-I", here, "--python_out", out_dir, "--grpc_python_out", out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         os.path.join(here, "fastpath.proto")],
        check=True)
    sys.path.insert(0, out_dir)


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--endpoint", "--ca", "--token", "--image", "--out"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    generate(args.out)

    import grpc
    import fastpath_pb2 as pb
    import fastpath_pb2_grpc as pb_grpc

    with open(args.ca, "rb") as f:
        tls = grpc.ssl_channel_credentials(root_certificates=f.read())
    authorized = grpc.composite_channel_credentials(tls,
                                                    grpc.access_token_call_credentials(args.token))
    stub = pb_grpc.FastPathServiceStub(grpc.secure_channel(args.endpoint, authorized))
    anonymous = pb_grpc.FastPathServiceStub(grpc.secure_channel(args.endpoint, tls))

    name = "seed-%d" % os.getpid()
    created = stub.CreateSandbox(
        pb.CreateRequest(image=args.image, name=name, namespace="default",
                         command=["sleep", "600"], envs={"FROM": "seed"}),
        timeout=120)
    print("created", created.sandbox_name, created.sandbox_id, created.agent_pod)
    ok = created.sandbox_name == name and len(created.sandbox_id) > 0

    info = stub.GetSandbox(pb.GetRequest(sandbox_name=name, namespace="default"), timeout=30)
    print("got", info.sandbox_name, info.phase, info.image)
    ok = ok and info.sandbox_id == created.sandbox_id and info.phase == "Running"

    listed = stub.ListSandboxes(pb.ListRequest(namespace="default"), timeout=30)
    names = [item.sandbox_name for item in listed.items]
    print("listed", names)
    ok = ok and name in names

    try:
        anonymous.ListSandboxes(pb.ListRequest(namespace="default"), timeout=30)
        print("a call without the token was answered")
        ok = False
    except grpc.RpcError as e:
        print("without the token:", e.code().name, e.details())
        ok = ok and e.code() == grpc.StatusCode.UNAUTHENTICATED

    deleted = stub.DeleteSandbox(pb.DeleteRequest(sandbox_name=name, namespace="default"),
                                 timeout=60)
    print("deleted", deleted.success)
    ok = ok and deleted.success

    # The record goes once the agent confirmed the delete; bounded wait.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            stub.GetSandbox(pb.GetRequest(sandbox_name=name, namespace="default"), timeout=10)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                print("gone: NOT_FOUND")
                break
            raise
        time.sleep(0.2)
    else:
        print("still there after the delete")
        ok = False

    print("seed client:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
