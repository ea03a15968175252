"""The coordinator: gRPC servicer, round driver and FedAvg strategy."""
