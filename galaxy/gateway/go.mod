module galaxy/gateway

go 1.26.8
