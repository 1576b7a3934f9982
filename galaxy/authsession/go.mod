module galaxy/authsession

go 1.26.8
