"""gRPC client of authsession's API (``galaxy.authsession.v1``), for the calls
a suite makes in the role of another service — the user service revoking
every session of a user it disabled."""

from __future__ import annotations

import grpc

from contracts.authsessionv1._pb import authsession_pb2, authsession_pb2_grpc
from contracts.grpc_errors import grpc_error

__all__ = ["AuthSessionGrpcClient"]


class AuthSessionGrpcClient:
    def __init__(self, target: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self.stub = authsession_pb2_grpc.AuthSessionServiceStub(self.channel)

    def revoke_all_sessions(self, user_id: str) -> int:
        req = authsession_pb2.RevokeAllSessionsRequest(user_id=user_id)
        try:
            resp = self.stub.RevokeAllSessions(req, timeout=self.timeout)
        except grpc.RpcError as err:
            raise grpc_error(err) from None
        count: int = resp.revoked_count
        return count

    def close(self) -> None:
        self.channel.close()
