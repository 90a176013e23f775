package console

import (
	"slices"

	"github.com/kakehashi/kakehashi/adminapi"
)

// networkRow is one network's connection.
type networkRow struct {
	Name      string
	Connected bool
}

// healthData is the health page.
type healthData struct {
	H        *adminapi.Health
	OK       bool
	Networks []networkRow
	Queue    adminapi.QueueStats
	// Instance is the instance's role, nil for a single instance.
	Instance *Instance
	// ShowQueue is false when the queue's totals could not be read (the
	// page shows the error instead); an empty queue is still shown.
	ShowQueue bool
	States    []string
}

func (q *req) health() error {
	ctx := q.r.Context()
	h, err := q.api.Health(ctx)
	if err != nil {
		return err
	}
	data := &healthData{H: h, OK: h.Status == "ok"}
	if q.c.instance != nil {
		in := q.c.instance()
		data.Instance = &in
	}
	for name, up := range h.Connected {
		data.Networks = append(data.Networks, networkRow{Name: name, Connected: up})
	}
	slices.SortFunc(data.Networks, func(a, b networkRow) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	st, err := q.api.QueueStats(ctx)
	if err != nil {
		q.render("health", data, err)
		return nil
	}
	data.Queue, data.ShowQueue = st, true
	for s := range st {
		data.States = append(data.States, s)
	}
	slices.Sort(data.States)
	q.render("health", data)
	return nil
}
