package synctest

import (
	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

func sqlExec(url, stmt string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}
