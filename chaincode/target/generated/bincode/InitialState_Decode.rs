impl < __Context > :: bincode :: Decode < __Context > for InitialState
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: Decode :: decode(decoder) ?,
            genesis_time_ms : :: bincode :: Decode :: decode(decoder) ?,
            params : :: bincode :: Decode :: decode(decoder) ?, orgs : ::
            bincode :: Decode :: decode(decoder) ?, nodes : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for InitialState
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            chain_id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, genesis_time_ms : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            params : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, orgs : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, nodes : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}