"""The client never reaches into the session: an endpoint without an address gets one from the `connect`
it was given (Session.client passes Session.connect), and without one it is refused in one line."""

from __future__ import annotations

import pytest

from imagemagic.client import ImagesClient
from imagemagic.endpoint import Endpoint
from imagemagic.errors import TransportError
from imagemagic.request import ImageRequest
from imagemagic.session import Session


def test_an_offline_endpoint_without_connect_is_one_line_and_sends_nothing():
    client = ImagesClient(Endpoint(None, offline=True, reason="offline"))
    with pytest.raises(TransportError) as caught:
        client.generate(ImageRequest(prompt="a kite"))
    assert str(caught.value) == (
        "the endpoint has no address (offline: the offline preview server); give the client "
        "connect=imagemagic.session.default().connect, or call imagemagic.generate"
    )


def test_the_session_gives_its_clients_its_connect(server_url):
    session = Session()
    connected = []

    async def connect(endpoint, notify=None):
        connected.append(endpoint)
        return Endpoint(server_url)

    session.connect = connect
    client = session.client(Endpoint(None, offline=True, reason="offline"))
    result = session.run_sync(client.generate(ImageRequest(prompt="a kite", size="1024x1024")))
    assert len(result) == 1 and len(connected) == 1 and client.endpoint.base_url == server_url
